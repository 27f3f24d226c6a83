import { describe, expect, it, vi } from 'vitest'
import { buildPlan } from '../../src/plan/build.js'
import { runPipeline } from '../../src/pipeline/runner.js'
import { PIPELINES } from '../../src/modules/index.js'
import type { ModuleDefinition } from '../../src/modules/module.js'
import type { PipelineEvent } from '../../src/pipeline/events.js'
import type { Task } from '../../src/pipeline/types.js'
import { raw } from '../../src/nodes/quote.js'
import { artifactKey } from '../../src/artifacts/types.js'
import { makeConfig } from '../plan/make-config.js'
import { fakeChartDigest } from '../plan/chart-index.js'
import { FakeConnection } from './fake-connection.js'
import { FinalError } from '../../src/pipeline/errors.js'

/** The real pipeline's module list with tasks replaced by the given ones (skip rules and needs unchanged). */
function modulesWith(tasks: Partial<Record<string, () => Task[]>>): ModuleDefinition[] {
  return PIPELINES.create.map((m) => ({ ...m, tasks: tasks[m.id] ?? (() => []) }))
}

async function setup(shape = {}, tasks: Partial<Record<string, () => Task[]>> = {}, handler?: ConstructorParameters<typeof FakeConnection>[1]) {
  const config = makeConfig({ controlPlanes: 1, workers: 2, ...shape })
  const { plan } = await buildPlan(config, { fetchChartDigest: fakeChartDigest })
  const connections = new Map<string, FakeConnection>()
  const events: PipelineEvent[] = []
  const artifacts = new Map(plan.artifacts.map((a) => [artifactKey(a), { artifact: a, path: `/cache/${a.file}` }]))
  const options = {
    plan, config, artifacts, concurrency: 4,
    modules: modulesWith(tasks),
    events: { emit: (e: PipelineEvent) => events.push(e) },
    connect: async (host: { name: string }) => {
      if (!connections.has(host.name)) connections.set(host.name, new FakeConnection(host.name, handler))
      return connections.get(host.name)!
    },
  }
  return { config, plan, options, events, connections }
}

describe('runPipeline', () => {
  it('never constructs the tasks of a skipped module (containerd config: cri-dockerd and docker)', async () => {
    const criDockerd = vi.fn(() => [] as Task[])
    const docker = vi.fn(() => [] as Task[])
    const { options, events } = await setup({ containerManager: 'containerd' }, { 'cri-dockerd': criDockerd, docker })
    await runPipeline(options)
    expect(criDockerd).not.toHaveBeenCalled()
    expect(docker).not.toHaveBeenCalled()
    expect(events).toContainEqual(expect.objectContaining({ type: 'module-skip', module: 'cri-dockerd', reason: 'kubernetes.containerManager is containerd' }))
  })

  it('refuses an artifact the module did not declare, and hands over the ones it did', async () => {
    const seen: string[] = []
    const { options } = await setup({ containerManager: 'containerd' }, {
      containerd: () => [{ name: 'read artifacts', run: async (t) => { seen.push(t.artifact('containerd').path); t.artifact('cri-dockerd') } }],
    })
    const error = await runPipeline(options).catch((e) => e)
    expect(seen).toHaveLength(3)
    expect(seen[0]).toMatch(/containerd-.*-linux-amd64\.tar\.gz$/)
    expect(error.message).toMatch(/module containerd failed on 3 host\(s\)/)
    expect(error.message).toMatch(/asked for artifact cri-dockerd \(amd64\) that it does not declare/)
  })

  it('runs a task on every host in parallel, counts changed hosts, and retries a flaky one', async () => {
    let node2Calls = 0
    const { options, events } = await setup({}, {
      'configure-os': () => [{
        name: 'touch', retries: 2, retryDelayMs: 10,
        run: async (t) => {
          if (t.host.name === 'node2' && ++node2Calls < 3) throw new Error('flaky')
          await t.exec(raw('true'))
          if (t.host.name !== 'node3') t.changed()
        },
      }],
    })
    const result = await runPipeline(options)
    expect(result.modules.find((m) => m.id === 'configure-os')).toMatchObject({ status: 'ok', changed: 2 })
    const ends = events.filter((e) => e.type === 'task-end' && e.module === 'configure-os')
    expect(ends.map((e) => e.type === 'task-end' && `${e.host}:${e.status}:${e.attempt}`).sort())
      .toEqual(['node1:changed:1', 'node2:failed:1', 'node2:failed:2', 'node2:changed:3', 'node3:unchanged:1'].sort())
  })

  it('a failing module stops the pipeline after its running tasks end, naming every failing host with its last lines', async () => {
    const finished: string[] = []
    const later = vi.fn(() => [] as Task[])
    const { options } = await setup({}, {
      precheck: () => [{
        name: 'check ports',
        run: async (t) => {
          await new Promise((r) => setTimeout(r, t.host.name === 'node1' ? 50 : 5))
          await t.exec(raw('ss -ltn'))
          finished.push(t.host.name)
        },
      }],
      'configure-os': later,
    }, (command, host) => (host === 'node1' ? {} : { code: 3, lines: [`port 2379 is taken on ${host}`, 'by etcd (pid 42)'] }))
    const error = await runPipeline(options).catch((e) => e)
    expect(finished).toEqual(['node1'])
    expect(later).not.toHaveBeenCalled()
    expect(error.message).toContain('module precheck failed on 2 host(s)')
    expect(error.message).toContain('node2: task "check ports": exit code 3: ss -ltn')
    expect(error.message).toContain('port 2379 is taken on node3')
    expect(error.message).not.toContain('node1:')
  })

  it('stops starting work once cancelled, and reports the module as cancelled', async () => {
    const controller = new AbortController()
    const later = vi.fn(() => [] as Task[])
    const { options, events } = await setup({}, {
      precheck: () => [{ name: 'slow', run: async (t) => { if (t.host.name === 'node1') controller.abort('SIGINT'); await t.exec(raw('sleep 1')) } }],
      'configure-os': later,
    })
    const error = await runPipeline({ ...options, concurrency: 1, signal: controller.signal }).catch((e) => e)
    expect(error.message).toMatch(/cancelled \(SIGINT\)/)
    expect(later).not.toHaveBeenCalled()
    expect(events.filter((e) => e.type === 'task-start')).toHaveLength(1)
    expect(events).toContainEqual(expect.objectContaining({ type: 'module-end', module: 'precheck', status: 'cancelled' }))
  })

  it('a cancel: the task ends "cancelled", not with what the closing connection said; its commands got the signal', async () => {
    const controller = new AbortController()
    const signals: Array<AbortSignal | undefined> = []
    const { options, events, connections } = await setup({ workers: 0 }, {
      precheck: () => [{
        name: 'kubeadm join',
        run: async (t) => {
          await t.exec(raw('true'))
          controller.abort('SIGTERM')
          throw new Error('SSH connection lost. The host went down or the network dropped')
        },
      }],
    })
    const connect = options.connect
    options.connect = async (host) => {
      const connection = await connect(host)
      const exec = connection.exec.bind(connection)
      connection.exec = (command, execOptions) => { signals.push(execOptions?.signal); return exec(command, execOptions) }
      return connection
    }
    await runPipeline({ ...options, signal: controller.signal }).catch((e) => e)
    expect(connections.get('node1')?.commands).toEqual(['true'])
    expect(signals).toEqual([controller.signal])
    const end = events.find((e) => e.type === 'task-end')
    expect(end).toMatchObject({ status: 'cancelled', error: 'cancelled (SIGTERM); its command on the host was stopped' })
  })

  it('a final failure (FinalError) is reported at once, without the retries a task allows', async () => {
    let attempts = 0
    const { options } = await setup({ workers: 0 }, {
      precheck: () => [{ name: 'join', retries: 3, retryDelayMs: 1, run: async () => { attempts++; throw new FinalError('kubeadm join failed on node1: [ERROR Swap]: running with swap on is not supported') } }],
    })
    await expect(runPipeline(options)).rejects.toThrow(/\[ERROR Swap\]/)
    expect(attempts).toBe(1)
  })

  it('a task over its timeout fails on that host', async () => {
    const { options } = await setup({ workers: 0 }, {
      precheck: () => [{ name: 'hang', timeoutMs: 50, run: () => new Promise(() => {}) }],
    })
    await expect(runPipeline(options)).rejects.toThrow(/node1: task "hang": task "hang" timed out after 0.05s/)
  })
})
