export { loadConfig, parseConfig, type LoadOptions } from './load.js'
export * from './types.js'
