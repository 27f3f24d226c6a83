/**
 * Entry point of the kubeadm TEST DOUBLE's checker, bundled to one JavaScript file and run by the double as
 * `node CHECKER <version> <kubeadm args...>`. Exit 0: go on; 1: refused (stderr says why, like kubeadm); 10: the
 * answer is printed (e.g. `config images list`). Pulled images are appended to $KK_DOUBLES_STATE_DIR/images-pulled;
 * $KK_DOUBLES_STATE_DIR/registry-images, when present, lists the only images that can be pulled; the CRI's sandbox
 * image is read from $KK_DOUBLES_CONTAINERD_CONFIG / $KK_DOUBLES_CRI_DOCKERD_UNIT (default: their /etc paths).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { checkCall } from './double-check.js'

function readFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

function etcdVersion(endpoint: string, tls: { caFile: string; certFile: string; keyFile: string }): Promise<{ version?: string; error?: string }> {
  return new Promise((resolve) => {
    let url: URL
    try {
      url = new URL('/version', endpoint)
    } catch {
      resolve({ error: `parse "${endpoint}": invalid URL` })
      return
    }
    const options = { ca: readFile(tls.caFile), cert: readFile(tls.certFile), key: readFile(tls.keyFile), timeout: 10_000 }
    const req = request(url, options, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk.toString()))
      res.on('end', () => {
        try {
          resolve({ version: String((JSON.parse(body) as { etcdserver?: string }).etcdserver ?? '') })
        } catch {
          resolve({ error: `unexpected answer: ${body.slice(0, 80)}` })
        }
      })
    })
    req.on('timeout', () => req.destroy(new Error('context deadline exceeded')))
    req.on('error', (error) => resolve({ error: error.message }))
    req.end()
  })
}

async function main(): Promise<void> {
  const [version, ...argv] = process.argv.slice(2)
  const state = process.env.KK_DOUBLES_STATE_DIR || '/var/lib/kk-doubles'
  const registryFile = join(state, 'registry-images')
  const registryImages = existsSync(registryFile) ? readFileSync(registryFile, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean) : undefined
  const result = await checkCall(version, argv, {
    readFile, etcdVersion, registryImages,
    containerdConfig: process.env.KK_DOUBLES_CONTAINERD_CONFIG, criDockerdUnit: process.env.KK_DOUBLES_CRI_DOCKERD_UNIT,
  })
  process.stdout.write(result.stdout)
  process.stderr.write(result.stderr)
  if (result.pulled) {
    mkdirSync(state, { recursive: true })
    appendFileSync(join(state, 'images-pulled'), result.pulled.map((i) => `${i}\n`).join(''))
  }
  process.exitCode = result.outcome === 'refuse' ? 1 : result.outcome === 'done' ? 10 : 0
}

void main()
