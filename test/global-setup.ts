import { bundle } from './support/bundle.js'

/** Tests run the bundled CLI and action as users do, so bundle once before any test file. */
export default function setup(): void {
  bundle()
}
