import { execFileSync } from 'node:child_process'
import { mkdtempSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UserError } from '../../src/errors.js'
import { connectHost, ConnectionPool, type ConnectOptions } from '../../src/nodes/connect.js'
import { sh } from '../../src/nodes/quote.js'
import { hostFor, recorder, sshdConnectionsFrom } from './fixture.js'
import { startTestNodes, testNodesSkipReason, type TestNodes } from './testnodes.js'

const skip = await testNodesSkipReason()
const scratch = mkdtempSync(join(tmpdir(), 'kk-ssh-test-'))

describe.skipIf(skip)('SSH connections against real sshd in test nodes', () => {
  let nodes: TestNodes
  let strict: ConnectOptions

  beforeAll(async () => {
    nodes = await startTestNodes({ count: 3 })
    strict = { hostKeyPolicy: 'strict', knownHostsPath: nodes.knownHostsPath, retries: 0 }
  })
  afterAll(async () => {
    await nodes?.stop()
  })

  describe('login', () => {
    it('logs in with the ed25519 key as root', async () => {
      const connection = await connectHost(hostFor(nodes, 'node1', 'root'), strict)
      expect((await connection.exec(sh`id -un`)).stdout).toBe('root\n')
      await connection.close()
    })

    it('logs in with an RSA key (rsa-sha2: OpenSSH 9 refuses ssh-rsa signatures)', async () => {
      const keyPath = join(scratch, 'id_rsa')
      execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', keyPath])
      await nodes.exec('node1', ['sh', '-c', 'cat >> /home/kkdeploy/.ssh/authorized_keys'], readFileSync(`${keyPath}.pub`, 'utf8'))
      const connection = await connectHost(hostFor(nodes, 'node1', 'kkdeploy', { privateKey: undefined, privateKeyPath: keyPath }), strict)
      expect((await connection.exec(sh`id -un`)).stdout).toBe('kkdeploy\n')
      await connection.close()
    })

    it('logs in with a password', async () => {
      const connection = await connectHost(hostFor(nodes, 'node1', 'kkpw', { privateKey: undefined, password: nodes.password }), strict)
      expect((await connection.exec(sh`id -un`)).stdout).toBe('kkpw\n')
      await connection.close()
    })

    it('takes the key from the ssh-private-key input when the host names none', async () => {
      const connection = await connectHost(hostFor(nodes, 'node2', 'kkdeploy', { privateKey: undefined }), { ...strict, privateKey: nodes.privateKey })
      expect((await connection.exec(sh`id -un`)).stdout).toBe('kkdeploy\n')
      await connection.close()
    })
  })

  describe('sudo', () => {
    it('runs as root through NOPASSWD sudo', async () => {
      const connection = await connectHost(hostFor(nodes, 'node1', 'kkdeploy'), strict)
      expect((await connection.exec(sh`id -u`, { sudo: true })).stdout).toBe('0\n')
      expect((await connection.exec(sh`id -u`)).stdout).toBe('2101\n')
      await connection.close()
    })

    it('feeds the sudo password on stdin and never shows it', async () => {
      const seen: string[] = []
      const { log, lines } = recorder()
      const connection = await connectHost(hostFor(nodes, 'node2', 'kkpw', { privateKey: undefined, password: nodes.password }), { ...strict, log })
      const result = await connection.exec(sh`id -u; cat; ps -eo args`, {
        sudo: true, stdin: 'data line\n', onLine: (stream, line) => seen.push(`${stream} ${line}`),
      })
      expect(result.code).toBe(0)
      // The password line went to sudo; the command's stdin starts with the caller's data.
      expect(result.stdout.split('\n').slice(0, 2)).toEqual(['0', 'data line'])
      const upload = await connection.upload('/etc/hostname', '/root/from-kkpw', { sudo: true })
      expect(upload.changed).toBe(true)
      const owner = await nodes.exec('node2', ['stat', '-c', '%U %a', '/root/from-kkpw'])
      expect(owner.stdout).toBe('root 644\n')
      const everything = [result.stdout, result.stderr, ...seen, ...lines].join('\n')
      expect(everything).not.toContain(nodes.password)
      await connection.close()
    })

    it('fails with a clean error when the sudo password is wrong, without echoing it', async () => {
      const wrong = 'Wrong-Pass-123'
      const connection = await connectHost(hostFor(nodes, 'node2', 'kkpw', { password: wrong }), strict)
      const error = await connection.exec(sh`id -u`, { sudo: true }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(UserError)
      expect(String(error)).toMatch(/host node2: sudo rejected the password of user kkpw/)
      expect(String(error)).not.toContain(wrong)
      await connection.close()
    })
  })

  describe('host keys', () => {
    const fingerprintOf = async (node: string) =>
      (await nodes.exec(node, ['ssh-keygen', '-lf', '/etc/ssh/ssh_host_ed25519_key.pub'])).stdout.split(' ')[1]

    it('strict refuses an unknown key, printing the fingerprint as ssh-keygen does and how to add it', async () => {
      const empty = join(scratch, 'empty_known_hosts')
      writeFileSync(empty, '')
      const error = await connectHost(hostFor(nodes, 'node1', 'root'), { ...strict, knownHostsPath: empty }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(UserError)
      const message = String((error as Error).message)
      expect(message).toContain('host node1')
      expect(message).toContain(await fingerprintOf('node1'))
      expect(await fingerprintOf('node1')).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
      expect(message).toContain(`ssh-keyscan -p 22 ${nodes.node('node1').address} >> ${empty}`)
    })

    it('strict accepts hashed known_hosts entries', async () => {
      const hashed = join(scratch, 'hashed_known_hosts')
      writeFileSync(hashed, readFileSync(nodes.knownHostsPath))
      execFileSync('ssh-keygen', ['-H', '-f', hashed], { stdio: 'ignore' })
      expect(readFileSync(hashed, 'utf8')).toMatch(/^\|1\|/)
      const connection = await connectHost(hostFor(nodes, 'node1', 'root'), { ...strict, knownHostsPath: hashed })
      expect((await connection.exec(sh`hostname`)).stdout).toBe('node1\n')
      await connection.close()
    })

    it('accept-new records an unknown key once, then checks against it', async () => {
      const file = join(scratch, 'accept_new_known_hosts')
      const { log, lines } = recorder()
      const first = await connectHost(hostFor(nodes, 'node3', 'root'), { ...strict, hostKeyPolicy: 'accept-new', knownHostsPath: file, log })
      await first.close()
      expect(readFileSync(file, 'utf8')).toBe(readFileSync(nodes.knownHostsPath, 'utf8').split('\n')[2] + '\n')
      expect(lines.join('\n')).toContain(await fingerprintOf('node3'))
      const second = await connectHost(hostFor(nodes, 'node3', 'root'), { ...strict, knownHostsPath: file })
      await second.close()
    })

    it('off connects to anything but warns', async () => {
      const { log, lines } = recorder()
      const connection = await connectHost(hostFor(nodes, 'node3', 'root'), { hostKeyPolicy: 'off', knownHostsPath: '/nonexistent', log })
      await connection.close()
      expect(lines.some((l) => l.startsWith('warn: host node3: host key checking is off'))).toBe(true)
    })

    it('strict refuses a changed key, and so does accept-new', async () => {
      await nodes.regenerateHostKey('node3')
      for (const hostKeyPolicy of ['strict', 'accept-new'] as const) {
        const error = await connectHost(hostFor(nodes, 'node3', 'root'), { ...strict, hostKeyPolicy }).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(UserError)
        expect((error as Error).message).toMatch(/^host node3: the host key of .* has CHANGED/)
        expect((error as Error).message).toContain(await fingerprintOf('node3'))
      }
    })
  })

  describe('failures', () => {
    it('a node killed mid-command fails with its name within the timeout; other hosts finish', async () => {
      const pool = new ConnectionPool({ ...strict, knownHostsPath: await knownHostsWithCurrentKeys(nodes) })
      const [one, two, three] = await Promise.all(['node1', 'node2', 'node3'].map((n) => pool.get(hostFor(nodes, n, 'root'))))
      const started = Date.now()
      const slow = three.exec(sh`sleep 60`, { timeoutMs: 20_000 }).catch((e: unknown) => e)
      const others = Promise.all([one, two].map((c) => c.exec(sh`sleep 1.5; echo finished`)))
      await sleep(500)
      await nodes.kill('node3')
      const error = await slow
      expect(Date.now() - started).toBeLessThan(20_000)
      expect(error).toBeInstanceOf(UserError)
      expect((error as Error).message).toMatch(/^host node3: /)
      expect((await others).map((r) => r.stdout)).toEqual(['finished\n', 'finished\n'])
      await pool.closeAll()
      await nodes.restart('node3')
    })

    it('a node that goes silent (link down) mid-command is reported lost within the keepalive window', async () => {
      const node = nodes.node('node1')
      const connection = await connectHost(hostFor(nodes, 'node1', 'root'), { ...strict, keepaliveIntervalMs: 500 })
      const running = connection.exec(sh`sleep 60`, { timeoutMs: 30_000 }).catch((e: unknown) => e)
      await sleep(300)
      const started = Date.now()
      execFileSync('ip', ['link', 'set', node.hostInterface, 'down'])
      try {
        const error = await running
        expect(error).toBeInstanceOf(UserError)
        expect((error as Error).message).toMatch(/^host node1: SSH connection lost.* while running: sleep 60/)
        expect(Date.now() - started).toBeLessThan(10_000)
      } finally {
        execFileSync('ip', ['link', 'set', node.hostInterface, 'master', nodes.bridgeInterface, 'up'])
      }
      expect((await connection.exec(sh`echo reconnected`)).stdout).toBe('reconnected\n')
      await connection.close()
    })

    it('times a command out per exec and keeps the connection usable', async () => {
      const connection = await connectHost(hostFor(nodes, 'node1', 'root'), strict)
      const started = Date.now()
      const error = await connection.exec(sh`sleep 30`, { timeoutMs: 700 }).catch((e: unknown) => e)
      expect(Date.now() - started).toBeLessThan(3_000)
      expect((error as Error).message).toMatch(/^host node1: command timed out after 1 s: sleep 30/)
      expect((await connection.exec(sh`echo still here`)).stdout).toBe('still here\n')
      await connection.close()
    })

    it('retries a refused connection until sshd is back', async () => {
      const knownHostsPath = await knownHostsWithCurrentKeys(nodes)
      await nodes.kill('node2')
      const { log, lines } = recorder()
      const connecting = connectHost(hostFor(nodes, 'node2', 'root'), { ...strict, knownHostsPath, retries: 8, retryBaseDelayMs: 200, log })
      await sleep(300)
      await nodes.restart('node2')
      const connection = await connecting
      expect((await connection.exec(sh`hostname`)).stdout).toBe('node2\n')
      expect(lines.some((l) => /host node2: cannot connect to .*:22: ECONNREFUSED.*retrying/.test(l))).toBe(true)
      await connection.close()
    })

    it('does not retry an authentication failure', async () => {
      const { log, lines } = recorder()
      const before = await sshdConnectionsFrom(nodes, 'node1', nodes.bridgeAddress)
      const started = Date.now()
      const error = await connectHost(hostFor(nodes, 'node1', 'kkpw', { privateKey: undefined, password: 'not-the-password' }), { ...strict, retries: 5, retryBaseDelayMs: 1_000, log }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(UserError)
      expect((error as Error).message).toMatch(/^host node1: SSH login as kkpw at .* was refused/)
      expect((error as Error).message).not.toContain('not-the-password')
      expect(lines.filter((l) => l.includes('retrying'))).toEqual([])
      // PAM delays each failed password by ~2 s; retries would add 1+2+4+8+16 s of backoff on top.
      expect(Date.now() - started).toBeLessThan(15_000)
      expect(await sshdConnectionsFrom(nodes, 'node1', nodes.bridgeAddress)).toBe(before + 1)
    })

    it('names the host when nothing answers at all', async () => {
      const error = await connectHost(hostFor(nodes, 'node1', 'root', { name: 'ghost', port: 2 }), { ...strict, retries: 1, retryBaseDelayMs: 50 }).catch((e: unknown) => e)
      expect((error as Error).message).toMatch(/^host ghost: cannot connect to .*:2: ECONNREFUSED/)
    })
  })

  describe('uploads', () => {
    it('an upload interrupted half-way leaves no file at the target; a second upload of the same file sends nothing', async () => {
      const big = join(scratch, 'big.bin')
      execFileSync('head', ['-c', String(24 * 1024 * 1024), '/dev/urandom'], { stdio: ['ignore', openSync(big, 'w'), 'ignore'] })
      const node = nodes.node('node1')
      const target = '/srv/kk/big.bin'
      execFileSync('tc', ['qdisc', 'add', 'dev', node.hostInterface, 'root', 'tbf', 'rate', '40mbit', 'burst', '64kb', 'latency', '200ms'])
      const connection = await connectHost(hostFor(nodes, 'node1', 'kkdeploy'), strict)
      try {
        const uploading = connection.upload(big, target, { sudo: true }).catch((e: unknown) => e)
        await waitFor(async () => Number((await nodes.exec('node1', ['sh', '-c', 'stat -c %s /srv/kk/.kk-upload.* 2>/dev/null'])).stdout.trim()) > 1_000_000)
        // Drop the connection on the node's side, as a crashing sshd or a broken link would.
        await nodes.exec('node1', ['pkill', '-KILL', '-f', '^sshd: kkdeploy'])
        const error = await uploading
        expect(error).toBeInstanceOf(UserError)
        expect((error as Error).message).toMatch(/^host node1: /)
      } finally {
        execFileSync('tc', ['qdisc', 'del', 'dev', node.hostInterface, 'root'])
      }
      await waitFor(async () => (await nodes.exec('node1', ['sh', '-c', 'ls -A /srv/kk'])).stdout === '')
      expect((await nodes.exec('node1', ['test', '-e', target])).code).toBe(1)

      const first = await connection.upload(big, target, { sudo: true, mode: 0o600 })
      expect(first).toEqual({ changed: true, bytes: 24 * 1024 * 1024 })
      const inode = async () => (await nodes.exec('node1', ['stat', '-c', '%i %Y', target])).stdout
      const before = await inode()
      const second = await connection.upload(big, target, { sudo: true, mode: 0o600 })
      expect(second).toEqual({ changed: false, bytes: 0 })
      expect(await inode()).toBe(before)
      const remote = await nodes.exec('node1', ['sh', '-c', `sha256sum ${target}; stat -c %a ${target}; ls -A /srv/kk`])
      expect(remote.stdout).toBe(`${sha256(big)}  ${target}\n600\nbig.bin\n`)
      await connection.close()
    })

    it('both upload methods make the target directory themselves (callers send no mkdir first)', async () => {
      const file = join(scratch, 'small.txt')
      writeFileSync(file, 'small\n')
      for (const uploadMethod of ['exec', 'sftp'] as const) {
        const connection = await connectHost(hostFor(nodes, 'node1', 'root'), { ...strict, uploadMethod })
        const target = `/srv/kk-${uploadMethod}/a/b/small.txt`
        expect(await connection.upload(file, target, { mode: 0o640 })).toEqual({ changed: true, bytes: 6 })
        expect(await connection.upload(file, target, { mode: 0o640 })).toEqual({ changed: false, bytes: 0 })
        expect((await nodes.exec('node1', ['sh', '-c', `cat ${target}; stat -c %a ${target}; ls -A /srv/kk-${uploadMethod}/a/b`])).stdout)
          .toBe('small\n640\nsmall.txt\n')
        // A file the machine had is kept on the first write through either method, in the same round trip.
        const packaged = `/srv/kk-${uploadMethod}/packaged.conf`
        await nodes.exec('node1', ['sh', '-c', `echo packaged > ${packaged} && chmod 644 ${packaged}`])
        const keepOriginal = { copy: `${packaged}.kk-action-orig`, marker: `/srv/kk-${uploadMethod}/taken-over${packaged}` }
        expect(await connection.upload(file, packaged, { mode: 0o600, keepOriginal })).toEqual({ changed: true, bytes: 6 })
        expect(await connection.upload(file, packaged, { mode: 0o600, keepOriginal })).toEqual({ changed: false, bytes: 0 })
        expect((await nodes.exec('node1', ['sh', '-c', `cat ${packaged} ${packaged}.kk-action-orig; stat -c %a ${packaged}.kk-action-orig`])).stdout)
          .toBe('small\npackaged\n644\n')
        await connection.close()
      }
    })

    it('a full disk fails the upload with the reason and leaves nothing behind', async () => {
      await nodes.exec('node3', ['sh', '-c', 'mkdir -p /srv/small && mount -t tmpfs -o size=1m tmpfs /srv/small'])
      const file = join(scratch, 'two-mib.bin')
      writeFileSync(file, Buffer.alloc(2 * 1024 * 1024, 7))
      const connection = await connectHost(hostFor(nodes, 'node3', 'root'), { ...strict, knownHostsPath: await knownHostsWithCurrentKeys(nodes) })
      const error = await connection.upload(file, '/srv/small/two-mib.bin').catch((e: unknown) => e)
      expect((error as Error).message).toMatch(/^host node3: upload of .* to \/srv\/small\/two-mib.bin failed: .*(No space left|bytes were written)/)
      expect((await nodes.exec('node3', ['ls', '-A', '/srv/small'])).stdout).toBe('')
      await connection.close()
    })

    it('downloads a root-only kubeconfig through sudo to a 0600 file', async () => {
      await nodes.exec('node2', ['sh', '-c', 'mkdir -p /etc/kubernetes && echo "apiVersion: v1" > /etc/kubernetes/admin.conf && chmod 600 /etc/kubernetes/admin.conf'])
      const connection = await connectHost(hostFor(nodes, 'node2', 'kkdeploy'), { ...strict, knownHostsPath: await knownHostsWithCurrentKeys(nodes) })
      const local = join(scratch, 'kubeconfig')
      expect(await connection.download('/etc/kubernetes/admin.conf', local, { sudo: true })).toEqual({ changed: true, bytes: 15 })
      expect(readFileSync(local, 'utf8')).toBe('apiVersion: v1\n')
      expect(statSync(local).mode & 0o777).toBe(0o600)
      expect(await connection.download('/etc/kubernetes/admin.conf', local, { sudo: true })).toEqual({ changed: false, bytes: 0 })
      const missing = await connection.download('/etc/kubernetes/nope.conf', local, { sudo: true }).catch((e: unknown) => e)
      expect((missing as Error).message).toMatch(/^host node2: cannot download \/etc\/kubernetes\/nope.conf/)
      await connection.close()
    })
  })

  it('hostile values reach the remote side as data, also through sudo', async () => {
    const hostile = `a; touch /tmp/pwned $(touch /tmp/pwned2) \`touch /tmp/pwned3\` 'single' "double" \\ back\nnew line & | > <`
    const connection = await connectHost(hostFor(nodes, 'node1', 'kkdeploy'), strict)
    for (const sudo of [false, true]) {
      const echoed = await connection.exec(sh`printf '%s' ${hostile}`, { sudo })
      expect(echoed.stdout).toBe(hostile)
    }
    const dir = `/srv/${hostile.replace(/\//g, '_')}`
    const file = join(scratch, 'label.txt')
    writeFileSync(file, 'label data\n')
    await connection.upload(file, `${dir}/file; rm -rf x`, { sudo: true })
    const listed = await nodes.exec('node1', ['cat', `${dir}/file; rm -rf x`])
    expect(listed.stdout).toBe('label data\n')
    const pwned = await nodes.exec('node1', ['sh', '-c', 'ls /tmp/pwned* 2>/dev/null | wc -l'])
    expect(pwned.stdout.trim()).toBe('0')
    await connection.close()
  })

  it('uses one TCP connection per host for 50 commands and 10 uploads, with channels capped below MaxSessions', async () => {
    const names = ['node1', 'node2', 'node3']
    const knownHostsPath = await knownHostsWithCurrentKeys(nodes)
    const before = await Promise.all(names.map((n) => sshdConnectionsFrom(nodes, n, nodes.bridgeAddress)))
    const pool = new ConnectionPool({ ...strict, knownHostsPath })
    const files = Array.from({ length: 10 }, (_, i) => {
      const path = join(scratch, `f${i}`)
      writeFileSync(path, `file ${i}\n`.repeat(1000 * (i + 1)))
      return path
    })
    await Promise.all(names.map(async (name) => {
      const host = hostFor(nodes, name, 'kkdeploy')
      // 50 commands at once: far above MaxSessions (10); the semaphore keeps them below it.
      const commands = Array.from({ length: 50 }, async (_, i) => (await pool.get(host)).exec(sh`sleep 0.05; echo ${i}`))
      const uploads = files.map(async (file, i) => (await pool.get(host)).upload(file, `/srv/many/${i}`, { sudo: true }))
      const results = await Promise.all(commands)
      expect(results.map((r) => r.stdout)).toEqual(results.map((_, i) => `${i}\n`))
      expect((await Promise.all(uploads)).every((u) => u.changed)).toBe(true)
    }))
    await pool.closeAll()
    const after = await Promise.all(names.map((n) => sshdConnectionsFrom(nodes, n, nodes.bridgeAddress)))
    expect(after.map((count, i) => count - before[i])).toEqual([1, 1, 1])
  })

  it('reaches a host through a bastion (one connection to the bastion, the host sees the bastion)', async () => {
    const knownHostsPath = await knownHostsWithCurrentKeys(nodes)
    const bastionNode = nodes.node('node1')
    const bastion = { address: bastionNode.address, port: 22, user: 'kkdeploy', privateKey: nodes.privateKey }
    const pool = new ConnectionPool({ ...strict, knownHostsPath })
    const before = await sshdConnectionsFrom(nodes, 'node1', nodes.bridgeAddress)
    for (const name of ['node2', 'node3']) {
      const connection = await pool.get(hostFor(nodes, name, 'root', { bastion }))
      const client = (await connection.exec(sh`echo $SSH_CONNECTION`)).stdout.split(' ')[0]
      expect(client).toBe(bastionNode.address)
    }
    await pool.closeAll()
    expect(await sshdConnectionsFrom(nodes, 'node1', nodes.bridgeAddress)).toBe(before + 1)
  })
})

async function knownHostsWithCurrentKeys(nodes: TestNodes): Promise<string> {
  const lines = await Promise.all(nodes.nodes.map(async (n) => `${n.address} ${await nodes.hostPublicKey(n.name)}\n`))
  const path = join(scratch, 'current_known_hosts')
  writeFileSync(path, lines.join(''))
  return path
}


function sha256(path: string): string {
  return execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0]
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await condition()) return
    await sleep(25)
  }
  throw new Error('condition not met in time')
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
