import { describe, expect, it } from 'vitest'
import type { Addon } from '../../src/config/types.js'
import { addonSteps } from '../../src/modules/addons-commands.js'
import { addons } from '../../src/modules/addons.js'
import type { TaskContext } from '../../src/pipeline/types.js'
import { makeConfig } from '../plan/make-config.js'

const config = { ...makeConfig({ controlPlanes: 1 }), file: '/repo/deploy/cluster.yaml' }
const texts = (addon: Addon) => addonSteps(config, addon).commands.map((c) => c.text)

describe('addon commands', () => {
  it('a repo chart becomes helm upgrade --install in its namespace with version, values file and --set values', () => {
    const addon: Addon = {
      name: 'ingress', namespace: 'ingress-nginx',
      sources: { chart: { name: 'ingress-nginx', repo: 'https://kubernetes.github.io/ingress-nginx', version: '4.10.0', valuesFile: 'values/ingress.yaml', values: ['controller.replicaCount=2', "a=it's"], wait: true } },
    }
    const steps = addonSteps(config, addon)
    expect(steps.files).toEqual([{ local: '/repo/deploy/values/ingress.yaml', remote: '/etc/kubekey/addons/ingress/0-ingress.yaml' }])
    expect(texts(addon)).toEqual([
      "/usr/local/bin/helm upgrade --install ingress ingress-nginx --namespace ingress-nginx --create-namespace " +
      '--repo https://kubernetes.github.io/ingress-nginx --version 4.10.0 --values /etc/kubekey/addons/ingress/0-ingress.yaml ' +
      "--set controller.replicaCount=2 --set 'a=it'\\''s' --wait --kubeconfig /etc/kubernetes/admin.conf",
    ])
  })

  it('yaml paths are sent to the node and applied in the namespace, which is created first; URLs go to kubectl', () => {
    const addon: Addon = { name: 'extras', namespace: 'tools', sources: { yaml: { path: ['manifests/a.yaml', 'https://example.test/b.yaml'] } } }
    expect(addonSteps(config, addon).files).toEqual([{ local: '/repo/deploy/manifests/a.yaml', remote: '/etc/kubekey/addons/extras/0-a.yaml' }])
    const commands = texts(addon)
    expect(commands[0]).toMatch(/get namespace tools .*\|\| .*create namespace tools/)
    expect(commands.slice(1)).toEqual([
      '/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.conf --cache-dir /var/lib/kk-action/kubectl-cache apply -f /etc/kubekey/addons/extras/0-a.yaml --namespace tools',
      '/usr/local/bin/kubectl --kubeconfig /etc/kubernetes/admin.conf --cache-dir /var/lib/kk-action/kubectl-cache apply -f https://example.test/b.yaml --namespace tools',
    ])
  })

  it('a chart with neither repo nor path is refused, naming the field', () => {
    expect(() => addonSteps(config, { name: 'x', sources: { chart: { name: 'x' } } })).toThrow(/chart\.repo/)
  })
})

describe('addons module', () => {
  it('retries an addon as often as its retries field says, then fails', async () => {
    const addon: Addon = { name: 'flaky', sources: { yaml: { path: ['https://example.test/a.yaml'] } }, retries: 2, delay: 0 }
    const cfg = { ...config, addons: [addon] }
    const calls: string[] = []
    const t = {
      config: cfg, host: cfg.hosts[0], log: () => {}, changed: () => {},
      exec: async (command: { text: string }) => { calls.push(command.text); throw new Error('apply failed') },
    } as unknown as TaskContext
    const [task] = addons.tasks!({ config: cfg } as never)
    await expect(task.run(t)).rejects.toThrow(/apply failed/)
    expect(calls).toHaveLength(3)
  })

  it('needs helm only when a chart is among the addons', () => {
    const yamlOnly = { ...config, addons: [{ name: 'a', sources: { yaml: { path: ['a.yaml'] } } }] }
    const withChart = { ...config, addons: [{ name: 'c', sources: { chart: { name: 'c', repo: 'https://r.test' } } }] }
    expect(addons.needs({ config: yamlOnly } as never)).toEqual([])
    expect(addons.needs({ config: withChart } as never)).toEqual(['helm'])
  })
})
