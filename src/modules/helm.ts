import type { TaskContext } from '../pipeline/types.js'
import { HELM } from './addons-commands.js'
import { installFromArchiveOnce } from './steps.js'

/** helm from its verified archive at /usr/local/bin/helm, for the modules that install charts. */
export async function installHelm(t: TaskContext): Promise<void> {
  const member = t.artifact('helm').artifact.members?.[0]
  if (!member) throw new Error('the catalog lists no helm member for the helm archive')
  await installFromArchiveOnce(t, 'helm', { [member]: HELM })
}
