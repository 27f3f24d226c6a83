/**
 * @peculiar/x509 2.x resolves its algorithm providers with tsyringe, which refuses to load unless a
 * Reflect metadata API (the `reflect-metadata` package's) exists. The project does not depend on that
 * package, so this module installs the small subset tsyringe and tslib use — only when no such API is
 * present — and must be imported before @peculiar/x509. Replace it with `import 'reflect-metadata'`
 * if that package is ever added.
 */
type Key = unknown
type Store = Map<Key, unknown>

interface ReflectMetadataApi {
  defineMetadata(key: Key, value: unknown, target: object, property?: string | symbol): void
  getOwnMetadata(key: Key, target: object, property?: string | symbol): unknown
  getMetadata(key: Key, target: object, property?: string | symbol): unknown
  hasOwnMetadata(key: Key, target: object, property?: string | symbol): boolean
  hasMetadata(key: Key, target: object, property?: string | symbol): boolean
  metadata(key: Key, value: unknown): (target: object, property?: string | symbol) => void
}

const reflect = Reflect as unknown as Partial<ReflectMetadataApi>

if (typeof reflect.getMetadata !== 'function') {
  const stores = new WeakMap<object, Map<string | symbol | undefined, Store>>()
  const own = (target: object, property: string | symbol | undefined, create: boolean): Store | undefined => {
    let byProperty = stores.get(target)
    if (!byProperty) {
      if (!create) return undefined
      byProperty = new Map()
      stores.set(target, byProperty)
    }
    let store = byProperty.get(property)
    if (!store && create) {
      store = new Map()
      byProperty.set(property, store)
    }
    return store
  }
  const api: ReflectMetadataApi = {
    defineMetadata(key, value, target, property) {
      own(target, property, true)!.set(key, value)
    },
    getOwnMetadata(key, target, property) {
      return own(target, property, false)?.get(key)
    },
    hasOwnMetadata(key, target, property) {
      return own(target, property, false)?.has(key) ?? false
    },
    hasMetadata(key, target, property) {
      for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
        if (api.hasOwnMetadata(key, t, property)) return true
      }
      return false
    },
    getMetadata(key, target, property) {
      for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
        const store = own(t, property, false)
        if (store?.has(key)) return store.get(key)
      }
      return undefined
    },
    metadata(key, value) {
      return (target, property) => api.defineMetadata(key, value, target, property)
    },
  }
  Object.assign(Reflect, api)
}

export {}
