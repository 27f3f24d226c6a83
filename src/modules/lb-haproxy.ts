import { createHash } from 'node:crypto'
import type { ClusterConfig, Host } from '../config/types.js'
import { kubekeyImage } from './lb-images.js'

export const HAPROXY_DIR = '/etc/kubekey/haproxy'
export const HAPROXY_CFG = `${HAPROXY_DIR}/haproxy.cfg`
export const HAPROXY_MANIFEST = '/etc/kubernetes/manifests/haproxy.yaml'
/** Where haproxy answers its own liveness probe (KubeKey's health port). */
export const HAPROXY_HEALTH_PORT = 8081
// KubeKey v3.1's haproxy image.
const HAPROXY_IMAGE = { namespace: 'library', repo: 'haproxy', tag: '2.9.6-alpine' }

/** The apiservers behind the local balancer: every control plane, by internal address. */
export function apiservers(config: ClusterConfig): Host[] {
  const names = new Set(config.roleGroups['control-plane'])
  return config.hosts.filter((host) => names.has(host.name))
}

/**
 * haproxy in TCP mode on 127.0.0.1:<port>, balancing over every apiserver; an apiserver counts as up while
 * its /healthz answers 200 over TLS (its serving certificate is not checked: the client does that end to end).
 */
export function renderHaproxyConfig(config: ClusterConfig): string {
  const port = config.controlPlaneEndpoint.port
  const servers = apiservers(config).map((host) =>
    `  server ${host.name} ${hostPort(host.internalAddress, port)} check check-ssl verify none`)
  return [
    'global',
    '  maxconn 4000',
    '  log 127.0.0.1 local0',
    '',
    'defaults',
    '  mode http',
    '  log global',
    '  option httplog',
    '  option dontlognull',
    '  option redispatch',
    '  retries 5',
    '  timeout http-request 5m',
    '  timeout queue 5m',
    '  timeout connect 30s',
    '  timeout client 30s',
    '  timeout server 15m',
    '  timeout http-keep-alive 30s',
    '  timeout check 30s',
    '  maxconn 4000',
    '',
    'frontend healthz',
    `  bind 127.0.0.1:${HAPROXY_HEALTH_PORT}`,
    '  mode http',
    '  monitor-uri /healthz',
    '',
    'frontend kube_api_frontend',
    `  bind 127.0.0.1:${port}`,
    '  mode tcp',
    '  option tcplog',
    '  default_backend kube_api_backend',
    '',
    'backend kube_api_backend',
    '  mode tcp',
    '  balance leastconn',
    '  default-server inter 15s downinter 15s rise 2 fall 2 slowstart 60s maxconn 1000 maxqueue 256 weight 100',
    '  option httpchk GET /healthz',
    '  http-check expect status 200',
    ...servers,
    '',
  ].join('\n')
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

/**
 * The static pod. The config's checksum is an annotation, so a changed config changes the manifest and the
 * kubelet recreates the pod (it does not watch the mounted file).
 */
export function renderHaproxyManifest(config: ClusterConfig, haproxyCfg: string): string {
  const image = kubekeyImage(config, HAPROXY_IMAGE.namespace, HAPROXY_IMAGE.repo, HAPROXY_IMAGE.tag)
  const checksum = createHash('sha256').update(haproxyCfg).digest('hex')
  return `apiVersion: v1
kind: Pod
metadata:
  name: haproxy
  namespace: kube-system
  labels:
    addonmanager.kubernetes.io/mode: Reconcile
    k8s-app: kube-haproxy
  annotations:
    cfg-checksum: "${checksum}"
spec:
  hostNetwork: true
  dnsPolicy: ClusterFirstWithHostNet
  nodeSelector:
    kubernetes.io/os: linux
  priorityClassName: system-node-critical
  containers:
  - name: haproxy
    image: ${image}
    imagePullPolicy: IfNotPresent
    resources:
      requests:
        cpu: 25m
        memory: 32M
    livenessProbe:
      httpGet:
        host: 127.0.0.1
        path: /healthz
        port: ${HAPROXY_HEALTH_PORT}
    readinessProbe:
      httpGet:
        host: 127.0.0.1
        path: /healthz
        port: ${HAPROXY_HEALTH_PORT}
    volumeMounts:
    - mountPath: /usr/local/etc/haproxy/
      name: etc-haproxy
      readOnly: true
  volumes:
  - name: etc-haproxy
    hostPath:
      path: ${HAPROXY_DIR}
`
}
