/**
 * A module writes node files only through putNodeFile, with a NodeFile its `files` also lists, so `kk-action
 * render` shows it. The few other writes are known: each is rendered another way or is not a node file.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const modulesDir = join(import.meta.dirname, '../../src/modules')
const WRITE = /\b(putFile|putPrivateFile|putFiles)\(|\bt\.upload\(/g

/** file → the writes it may make besides putNodeFile, and why render still covers them. */
const KNOWN: Record<string, string[]> = {
  // The certificate directory: listed as placeholders by etcdPkiPlaceholders (made on the runner during the deploy).
  'etcd.ts': ['putFiles('],
  // The etcd client pair of a control plane: the same placeholders, filtered to its three files.
  'kubeadm-init.ts': ['putFiles('],
  // The chart is a verified artifact: listed in the index's artifacts.
  'network.ts': ['t.upload('],
  // kube-vip's rendered manifest with super-admin.conf swapped for admin.conf after init (1.29+): the rendered file is the one init starts with.
  'lb-kube-vip.ts': ['putFile('],
}

describe('modules write node files through putNodeFile only', () => {
  it('no other putFile, putPrivateFile, putFiles or t.upload in src/modules but the known ones', () => {
    const found: Record<string, string[]> = {}
    for (const file of readdirSync(modulesDir).filter((f) => f.endsWith('.ts') && f !== 'steps.ts')) {
      const writes = [...readFileSync(join(modulesDir, file), 'utf8').matchAll(WRITE)].map((m) => m[0])
      if (writes.length) found[file] = writes
    }
    expect(found, 'make the file a NodeFile written with putNodeFile and list it in the module\'s files(), so render shows it').toEqual(KNOWN)
  })
})
