import { describe, expect, it } from 'vitest'
import { isUserError, type UserError } from '../../src/errors.js'
import type { Overrides } from '../../src/config/types.js'
import { expectNoStack, load, singleNode } from './helpers.js'

const withContainerd = singleNode('  kubernetes:', '    version: v1.26.13', '    containerManager: containerd', '  network:', '    plugin: flannel')

function overrideError(overrides: Overrides): UserError {
  try {
    load(withContainerd, { overrides })
  } catch (error) {
    if (isUserError(error)) return error
    throw error
  }
  throw new Error('expected the override to be rejected')
}

describe('overrides from inputs and flags', () => {
  it('replace the version, container manager and network plugin of the file, with a notice each', () => {
    const { config, notices } = load(withContainerd, { overrides: { kubernetesVersion: 'v1.28.16', containerManager: 'docker', networkPlugin: 'cilium' } })
    expect(config.kubernetes).toMatchObject({ version: 'v1.28.16', containerManager: 'docker', containerManagerDefaulted: false })
    expect(config.network.plugin).toBe('cilium')
    expect(notices).toEqual(
      expect.arrayContaining([
        'spec.kubernetes.version is v1.28.16 from the kubernetes-version input/flag (the config says v1.26.13)',
        'spec.kubernetes.containerManager is docker from the container-manager input/flag (the config says containerd)',
        'spec.network.plugin is cilium from the network-plugin input/flag (the config says flannel)',
      ]),
    )
  })

  it('ignore empty values (an unset Action input)', () => {
    const { config, notices } = load(withContainerd, { overrides: { kubernetesVersion: '', containerManager: '  ', networkPlugin: undefined } })
    expect(config.kubernetes).toMatchObject({ version: 'v1.26.13', containerManager: 'containerd' })
    expect(notices.join('\n')).not.toContain('input/flag')
  })

  it('replace a defaulted container manager, so the docker notice goes away', () => {
    const { config, notices } = load(singleNode(), { overrides: { containerManager: 'containerd' } })
    expect(config.kubernetes).toMatchObject({ containerManager: 'containerd', containerManagerDefaulted: false })
    expect(notices).toContain('spec.kubernetes.containerManager is containerd from the container-manager input/flag (the config says docker (default))')
    expect(notices.join('\n')).not.toContain("KubeKey's default docker")
  })

  it('use the overridden version in the docker notice', () => {
    const { notices } = load(singleNode(), { overrides: { kubernetesVersion: 'v1.30.14' } })
    expect(notices.join('\n')).toMatch(/default docker applies; with Kubernetes v1\.30\.14 \(>= v1\.24, no dockershim\) that also means cri-dockerd/)
  })

  it.each([
    [{ kubernetesVersion: '1.28.16' }, 'kubernetes-version (action input or --kubernetes-version flag): "1.28.16" lacks the leading "v": KubeKey requires vX.Y.Z, write v1.28.16. It overrides spec.kubernetes.version of cluster.yaml'],
    [{ containerManager: 'crio' }, 'container-manager (action input or --container-manager flag): "crio" is supported by KubeKey but not by kk-action; allowed: containerd, docker. It overrides spec.kubernetes.containerManager of cluster.yaml'],
    [{ networkPlugin: 'kube-ovn' }, 'network-plugin (action input or --network-plugin flag): "kube-ovn" is supported by KubeKey but not by kk-action; allowed: calico, flannel, cilium, none. It overrides spec.network.plugin of cluster.yaml'],
  ])('are validated like the file and say where they came from: %j', (overrides, message) => {
    const error = overrideError(overrides)
    expect(error.message).toBe(message)
    expectNoStack(error.message)
  })
})
