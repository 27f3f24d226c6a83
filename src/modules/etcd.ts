import { defineModule } from './module.js'

/** A TLS etcd cluster on the etcd hosts, managed by kk-action (etcd.type kubekey). */
export const etcd = defineModule({
  id: 'etcd',
  hosts: (ctx) => ctx.hostsWithRole('etcd'),
  skip: ({ config }) => {
    const type = config.etcd.type
    if (type === 'kubekey') return undefined
    return type === 'kubeadm'
      ? 'etcd.type is kubeadm (stacked etcd, run by kubeadm on the control planes)'
      : 'etcd.type is external (the cluster uses etcd.external.endpoints)'
  },
  needs: () => ['etcd'],
})
