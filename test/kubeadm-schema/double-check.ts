/**
 * The checks of the kubeadm TEST DOUBLE that concern what kubeadm is told: flags of that version, --config documents
 * against the schema of their API version (and whether that kubeadm knows the API at all), the CRI socket form,
 * the images it would pull (`config images list`, and on init against the images a private registry holds), and
 * external etcd's version against kubeadm's minimum. Bundled into the double by test/fixtures/build-mirror.ts and
 * run with node; see double-cli.ts.
 */
import { parseAllDocuments } from 'yaml'
import { schemaFor } from './index.js'
import {
  acceptedApiVersions, atLeast, DOCKERSHIM, imagesList, knownVersion, minExternalEtcd, mixedWithConfig, parseCall, pauseImage,
  strictApi, type ImageSettings,
} from './versions.js'

export interface CheckIo {
  readFile(path: string): string | undefined
  /** The etcd version an external etcd endpoint reports (GET /version over TLS), or an error text. */
  etcdVersion(endpoint: string, tls: { caFile: string; certFile: string; keyFile: string }): Promise<{ version?: string; error?: string }>
  /** Images a private registry holds (the test writes them); undefined: any image can be pulled. */
  registryImages?: string[]
  /** Where the CRI's configuration is read from (defaults: /etc/containerd/config.toml, /etc/systemd/system/cri-docker.service). */
  containerdConfig?: string
  criDockerdUnit?: string
}

export interface CheckResult {
  /** continue: the double goes on; refuse: exit 1; done: the output is the whole answer, exit 0. */
  outcome: 'continue' | 'refuse' | 'done'
  stdout: string
  stderr: string
  /** Images the call pulled (init, config images pull). */
  pulled?: string[]
}

type Doc = Record<string, unknown> & { apiVersion?: string; kind?: string }

const TRACE = 'To see the stack trace of this error execute with --v=5 or higher'

function refuse(message: string): CheckResult {
  return { outcome: 'refuse', stdout: '', stderr: `${message}\n${TRACE}\n` }
}

function preflightErrors(errors: string[]): CheckResult {
  return {
    outcome: 'refuse', stdout: '',
    stderr: '[preflight] Running pre-flight checks\nerror execution phase preflight: [preflight] Some fatal errors occurred:\n' +
      errors.map((e) => `\t[ERROR ${e}\n`).join('') +
      '[preflight] If you know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`\n' + `${TRACE}\n`,
  }
}

/** Schema problems of a config file for this kubeadm: errors refuse, warnings are printed (lenient APIs). */
export function checkDocuments(version: string, text: string): { errors: string[]; warnings: string[]; docs: Doc[] } {
  const errors: string[] = []
  const warnings: string[] = []
  const docs: Doc[] = []
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length) {
      errors.push(`error converting YAML to JSON: ${document.errors[0].message}`)
      continue
    }
    const doc = document.toJS() as Doc | null
    if (!doc) continue
    docs.push(doc)
    const api = String(doc.apiVersion ?? '')
    if (api.startsWith('kubeadm.k8s.io/') && !acceptedApiVersions(version).includes(api)) {
      errors.push(`no kind "${doc.kind}" is registered for version "${api}" in scheme "k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31"`)
      continue
    }
    const schema = schemaFor(api, String(doc.kind ?? ''))
    if (!schema) {
      errors.push(`kk-action kubeadm double: no schema for ${api} ${doc.kind}; the real kubeadm may read it, this double cannot tell`)
      continue
    }
    const result = schema.safeParse(doc)
    if (result.success) continue
    for (const issue of result.error.issues) {
      const where = issue.path.join('.')
      if (issue.code === 'unrecognized_keys') {
        const keys = issue.keys.map((k) => `"${where ? `${where}.` : ''}${k}"`).join(', ')
        if (strictApi(api)) errors.push(`strict decoding error: unknown field ${keys} in ${api}, Kind=${doc.kind}`)
        else warnings.push(`W1204 00:00:00.000000 kk-double strict.go:54] error unmarshaling configuration schema.GroupVersionKind{Group:"kubeadm.k8s.io", Version:"${api.split('/')[1]}", Kind:"${doc.kind}"}: unknown field ${keys}`)
      } else {
        errors.push(`${api}, Kind=${doc.kind}: ${where || '(root)'}: ${issue.message}`)
      }
    }
  }
  return { errors, warnings, docs }
}

function byKind(docs: Doc[], kind: string): Doc | undefined {
  return docs.find((d) => d.kind === kind && String(d.apiVersion ?? '').startsWith('kubeadm.k8s.io/'))
}

function imageSettings(cluster: Doc | undefined): ImageSettings {
  const etcd = (cluster?.etcd ?? {}) as { local?: ImageSettings['etcd']; external?: unknown }
  return {
    imageRepository: cluster?.imageRepository as string | undefined,
    dns: cluster?.dns as ImageSettings['dns'],
    etcd: etcd.external ? undefined : (etcd.local ?? {}),
  }
}

/** criSocket as kubeadm of this version reads it: before 1.24 only the bare dockershim path is dockershim. */
function criSocketProblem(version: string, socket: string | undefined): string | undefined {
  if (!socket || atLeast(version, '1.24.0')) return undefined
  if (socket !== DOCKERSHIM && socket.replace(/^unix:\/\//, '') === DOCKERSHIM) {
    return `CRI]: container runtime is not running: output: time="kk-double" level=fatal msg="validate service connection: ` +
      `connect: connect endpoint '${socket}', make sure you are running as root and the endpoint has been started: ` +
      `dial unix ${DOCKERSHIM}: connect: no such file or directory"\n, error: exit status 1`
  }
  return undefined
}

async function externalEtcdProblems(version: string, cluster: Doc | undefined, io: CheckIo): Promise<string[]> {
  const external = (cluster?.etcd as { external?: { endpoints: string[]; caFile: string; certFile: string; keyFile: string } } | undefined)?.external
  if (!external) return []
  const min = minExternalEtcd(version)
  const problems: string[] = []
  for (const endpoint of external.endpoints) {
    const found = await io.etcdVersion(endpoint, external)
    if (found.error) problems.push(`ExternalEtcdVersion]: Get "${endpoint}/version": ${found.error}`)
    else if (found.version && !atLeast(found.version, min)) {
      problems.push(`ExternalEtcdVersion]: this version of kubeadm only supports external etcd version >= ${min}. Current version: ${found.version}`)
    }
  }
  return problems
}

/** The CRI's sandbox image, read from containerd's config or cri-dockerd's unit, when they are on this machine. */
function runtimeSandboxImages(io: CheckIo): string[] {
  const found: string[] = []
  const toml = io.readFile(io.containerdConfig ?? '/etc/containerd/config.toml')
  for (const m of toml?.matchAll(/^\s*(?:sandbox_image|sandbox)\s*=\s*"([^"]+)"/gm) ?? []) found.push(m[1])
  const unit = io.readFile(io.criDockerdUnit ?? '/etc/systemd/system/cri-docker.service')
  const flag = unit && /--pod-infra-container-image[= ](\S+)/.exec(unit)
  if (flag) found.push(flag[1])
  return found
}

export async function checkCall(version: string, argv: string[], io: CheckIo): Promise<CheckResult> {
  if (!knownVersion(version)) return { outcome: 'continue', stdout: '', stderr: '' }
  const call = parseCall(version, argv)
  if (call.problems.length) return refuse(`${call.problems[0]}`)
  const mixed = mixedWithConfig(call)
  if (mixed.length) return refuse(`can not mix '--config' with arguments [${mixed.join(' ')}]`)

  const configPath = call.flags.get('config')
  let docs: Doc[] = []
  let warnings = ''
  if (configPath) {
    const text = io.readFile(configPath)
    if (text === undefined) return refuse(`unable to read config from "${configPath}" : open ${configPath}: no such file or directory`)
    const checked = checkDocuments(version, text)
    if (checked.errors.length) return refuse(checked.errors.join('\n'))
    docs = checked.docs
    warnings = checked.warnings.map((w) => `${w}\n`).join('')
  }
  const cluster = byKind(docs, 'ClusterConfiguration')
  const settings = imageSettings(cluster)
  if (call.flags.has('image-repository')) settings.imageRepository = call.flags.get('image-repository')
  const kubeVersion = call.flags.get('kubernetes-version') || (cluster?.kubernetesVersion as string | undefined) || version

  if (call.command === 'config images list') {
    return { outcome: 'done', stdout: `${imagesList(kubeVersion, settings).join('\n')}\n`, stderr: warnings }
  }
  if (call.command !== 'init' && call.command !== 'join' && call.command !== 'config images pull') {
    return { outcome: 'continue', stdout: '', stderr: warnings }
  }

  const registration = (byKind(docs, call.command === 'join' ? 'JoinConfiguration' : 'InitConfiguration')?.nodeRegistration ?? {}) as { criSocket?: string }
  const errors: string[] = []
  const socket = criSocketProblem(version, call.flags.get('cri-socket') ?? registration.criSocket)
  if (socket) errors.push(socket)
  let pulled: string[] | undefined
  if (call.command !== 'join') {
    errors.push(...await externalEtcdProblems(version, cluster, io))
    pulled = imagesList(kubeVersion, settings)
    if (io.registryImages) {
      for (const image of pulled.filter((i) => !io.registryImages!.includes(i))) {
        errors.push(`ImagePull]: failed to pull image ${image}: output: E1204 kk-double "PullImage from image service failed" ` +
          `err="rpc error: code = NotFound desc = failed to pull and unpack image \\"${image}\\": not found"`)
      }
    }
    // kubeadm >= 1.28 compares the CRI's sandbox image with its own pause and warns (preflight ContainerRuntimeCheck).
    const pause = pauseImage(kubeVersion, settings)
    for (const sandbox of runtimeSandboxImages(io).filter((s) => s !== pause)) {
      warnings += `W1204 00:00:00.000000 kk-double checks.go:846] detected that the sandbox image "${sandbox}" of the container runtime ` +
        `is inconsistent with that used by kubeadm. It is recommended to use "${pause}" as the CRI sandbox image.\n`
    }
  }
  if (errors.length) {
    const result = preflightErrors(errors)
    return { ...result, stderr: warnings + result.stderr }
  }
  return { outcome: 'continue', stdout: '', stderr: warnings, pulled }
}
