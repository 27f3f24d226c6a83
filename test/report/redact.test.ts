import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MASK, Redactor } from '../../src/report/redact.js'

const pem = () => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()

describe('Redactor: registered values', () => {
  it('masks a value wherever it appears, longest first, and ignores empty ones', () => {
    const redactor = new Redactor(['hunter2-secret', '', '   ', undefined, 'hunter2-secret-and-more'])
    expect(redactor.redactLine('pw=hunter2-secret-and-more; again hunter2-secret.')).toBe(`pw=${MASK}; again ${MASK}.`)
    expect(redactor.redactLine('nothing here')).toBe('nothing here')
  })

  it('masks each line of a private key printed by cat, and the key inside a JSON string', () => {
    const key = pem()
    const redactor = new Redactor([key])
    const body = key.trim().split('\n').slice(1, -1)
    const printed = redactor.redact(`$ cat key.pem\n${key}done`)
    for (const line of body) expect(printed).not.toContain(line)
    expect(printed).toContain('-----BEGIN PRIVATE KEY-----')
    const json = redactor.redact(JSON.stringify({ privateKey: key }))
    for (const line of body) expect(json).not.toContain(line)
  })

  it('masks the base64 form of a registered key, with or without final newline, also wrapped at 76 columns', () => {
    const key = pem()
    const redactor = new Redactor([key])
    const b64 = Buffer.from(key).toString('base64')
    expect(redactor.redactLine(`client-key-data-x ${b64}`)).not.toContain(b64.slice(20, 60))
    expect(redactor.redactLine(Buffer.from(key.trim()).toString('base64'))).toBe(MASK)
    const wrapped = redactor.redact(b64.replace(/(.{76})/g, '$1\n'))
    for (const chunk of b64.match(/.{76}/g)!) expect(wrapped).not.toContain(chunk)
  })

  it('masks overlapping and adjacent values as one stretch, leaving no piece of either', () => {
    const redactor = new Redactor(['abcdef-1234', '1234-uvwxyz', 'QQQQQQ'])
    expect(redactor.redactLine('x abcdef-1234-uvwxyz y')).toBe(`x ${MASK} y`)
    expect(redactor.redactLine('QQQQQQQQQQQQ!QQQQQQ')).toBe(`${MASK}!${MASK}`)
    expect(redactor.redactLine('plain')).toBe('plain')
  })

  it('masks a registered value whole even when a shape rule would match inside it', () => {
    const redactor = new Redactor(['token=not-a-real-token-77'])
    expect(redactor.redactLine('auth token=not-a-real-token-77 done')).toBe(`auth ${MASK} done`)
  })

  it('tells onSecret about every new value once (the action passes core.setSecret)', () => {
    const seen: string[] = []
    const redactor = new Redactor()
    redactor.onSecret = (value) => seen.push(value)
    redactor.add('s3cret-password')
    redactor.add('s3cret-password')
    expect(seen.filter((value) => value === 's3cret-password')).toHaveLength(1)
    expect(seen).toContain(Buffer.from('s3cret-password').toString('base64'))
  })
})

describe('Redactor: secrets born on the nodes, by shape', () => {
  it('masks kubeadm join tokens and certificate keys, and then every later copy of them', () => {
    const redactor = new Redactor()
    const token = 'abcdef.0123456789abcdef'
    const certKey = 'a'.repeat(32) + '0123456789abcdef0123456789abcdef'
    const join = redactor.redact([
      `kubeadm join 10.0.0.2:6443 --token ${token} \\`,
      '    --discovery-token-ca-cert-hash sha256:2f1a3c0e9b8d7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29 \\',
      `    --control-plane --certificate-key ${certKey}`,
    ].join('\n'))
    expect(join).not.toContain(token)
    expect(join).not.toContain(certKey)
    expect(join).toContain('sha256:2f1a3c0e9b8d7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29')
    // Registered on the way: a bare copy elsewhere is masked too.
    expect(redactor.redactLine(`later: ${certKey}`)).toBe(`later: ${MASK}`)
  })

  it('masks the certificate key kubeadm prints on the line after "Using certificate key:"', () => {
    const redactor = new Redactor()
    const certKey = 'f'.repeat(64)
    const lines = redactor.lines()
    expect(lines.redact('[upload-certs] Using certificate key:')).toBe('[upload-certs] Using certificate key:')
    expect(lines.redact(certKey)).toBe(MASK)
    expect(lines.redact(certKey.replace(/f/g, 'e'))).toBe('e'.repeat(64)) // only the next line
  })

  it('masks a private key block that arrives line by line, and registers its lines', () => {
    const key = pem()
    const redactor = new Redactor()
    const lines = redactor.lines()
    const out = key.trim().split('\n').map((line) => lines.redact(line))
    expect(out[0]).toBe('-----BEGIN PRIVATE KEY-----')
    expect(out.at(-1)).toBe('-----END PRIVATE KEY-----')
    expect(out.slice(1, -1).every((line) => line === MASK)).toBe(true)
    expect(lines.redact('after the key')).toBe('after the key')
    expect(redactor.redactLine(key.split('\n')[3])).toBe(MASK)
  })

  it('masks kubeconfig key data, tokens and passwords in YAML, JSON, TOML and flags; keeps placeholders and prose', () => {
    const key = pem()
    const redactor = new Redactor()
    const kubeconfig = `users:\n- name: admin\n  user:\n    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t\n    client-key-data: ${Buffer.from(key).toString('base64')}\n    token: eyJhbGciOiJSUzI1NiJ9.payload.sig\n`
    const out = redactor.redact(kubeconfig)
    expect(out).toContain('client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t')
    expect(out).toContain(`client-key-data: ${MASK}`)
    expect(out).toContain(`token: ${MASK}`)
    // base64 PEM private key anywhere, without a key name
    expect(redactor.redactLine(`data ${Buffer.from(key).toString('base64')}`)).toBe(`data ${MASK}`)
    expect(redactor.redactLine('{"password":"two words","user":"kk"}')).toBe(`{"password":"${MASK}","user":"kk"}`)
    expect(redactor.redactLine('  password = "toml-pass-123"')).toBe(`  password = "${MASK}"`)
    expect(redactor.redactLine('sshpass --password hunter22 x')).toBe(`sshpass --password ${MASK} x`)
    expect(redactor.redactLine('Token: <none>')).toBe('Token: <none>')
    expect(redactor.redactLine('sudo: a password is required')).toBe('sudo: a password is required')
    expect(redactor.redactLine('--authorization-mode=Node,RBAC')).toBe('--authorization-mode=Node,RBAC')
    expect(redactor.redactLine('ETCD_INITIAL_CLUSTER_TOKEN=k8s_etcd')).toBe('ETCD_INITIAL_CLUSTER_TOKEN=k8s_etcd')
  })
})
