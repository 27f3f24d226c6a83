/**
 * Brings test nodes up for manual work and benchmarks, prints how to reach them, and tears them down
 * on Ctrl-C / SIGTERM:
 *
 *   npx vite-node test/nodes/up.ts -- --count 3 [--prefix kkdev] [--init tini] [--json nodes.json]
 *
 * The JSON (stdout, and --json FILE) holds nodes[{name,address,port,pid}], keyPath, knownHostsPath,
 * users, password and bridgeAddress.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { startTestNodes, type InitKind } from './testnodes.js'

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '3' },
    prefix: { type: 'string' },
    init: { type: 'string', default: 'systemd' },
    json: { type: 'string' },
  },
  allowPositionals: true,
})

const started = Date.now()
const nodes = await startTestNodes({ count: Number(values.count), prefix: values.prefix, init: values.init as InitKind })
const summary = {
  nodes: nodes.nodes.map(({ name, address, port, pid }) => ({ name, address, port, pid })),
  keyPath: nodes.keyPath,
  knownHostsPath: nodes.knownHostsPath,
  users: nodes.users,
  password: nodes.password,
  bridgeAddress: nodes.bridgeAddress,
  init: nodes.init,
}
const text = JSON.stringify(summary, null, 2)
if (values.json) writeFileSync(values.json, text + '\n')
console.log(text)
console.error(`${nodes.nodes.length} test nodes up in ${Date.now() - started} ms; try: ssh -i ${nodes.keyPath} -o UserKnownHostsFile=${nodes.knownHostsPath} root@${nodes.nodes[0].address}`)
console.error('Ctrl-C (or SIGTERM) tears them down.')

const keepAlive = setInterval(() => undefined, 1 << 30)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    clearInterval(keepAlive)
    void nodes.stop().then(() => process.exit(0))
  })
}
