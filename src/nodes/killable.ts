/**
 * Remote commands a cancel can stop. Closing an SSH channel does not end the command behind it (no pty, no
 * SIGHUP), so `kubeadm join` went on running after a cancelled deploy. sshd starts each channel's command in
 * a session of its own (sudo with use_pty in another): a cancellable command first names its process group
 * on stderr, and stopping it signals that whole group. Daemons a command starts in a session of their own
 * (systemd units, the kubelet) are not in it.
 */
import { sh, type Command } from './quote.js'

const GROUP_MARKER = 'kk-action-process-group '

// $0 is the command. The group comes from /proc with builtins only (`read`, `printf`): no extra process per
// command beyond the one sh.
const NAME_GROUP_THEN_RUN = `read -r _ _ _ _ g _ </proc/$$/stat && printf '${GROUP_MARKER}%s\\n' "$g" >&2; eval "$0"`

export function killable(command: Command): Command {
  return sh`sh -c ${NAME_GROUP_THEN_RUN} ${command.text}`
}

/**
 * Reads the group line off the start of a cancellable command's stderr: `push` each stderr chunk, and pass
 * on what it returns (everything but that line). Output that does not start with it (sudo's own complaints)
 * passes unchanged.
 */
export class GroupReader {
  group?: number
  private pending: Buffer | undefined = Buffer.alloc(0)
  private readonly waiters: Array<() => void> = []

  push(chunk: Buffer): Buffer {
    if (!this.pending) return chunk
    const buffered = Buffer.concat([this.pending, chunk])
    const newline = buffered.indexOf(10)
    if (newline < 0 && buffered.length < GROUP_MARKER.length + 24) {
      this.pending = buffered
      return Buffer.alloc(0)
    }
    this.pending = undefined
    const line = buffered.subarray(0, newline < 0 ? 0 : newline).toString('utf8')
    const match = line.startsWith(GROUP_MARKER) ? /^\d+$/.exec(line.slice(GROUP_MARKER.length)) : null
    if (match) this.group = Number(match[0])
    for (const wake of this.waiters.splice(0)) wake()
    return match ? buffered.subarray(newline + 1) : buffered
  }

  /** Resolves once the line came (or the output showed it will not), or after `ms`. */
  wait(ms: number): Promise<void> {
    if (!this.pending) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.waiters.push(() => { clearTimeout(timer); resolve() })
    })
  }

  /** What is still held back when the stream ends. */
  rest(): Buffer {
    const rest = this.pending ?? Buffer.alloc(0)
    this.pending = undefined
    return rest
  }
}

// TERM to the group, KILL a second later to whatever ignored it (a dead group's zombies would make a
// "still there?" loop wait on).
const STOP_GROUP = 'kill -TERM "-$0" 2>/dev/null || exit 0; sleep 1; kill -KILL "-$0" 2>/dev/null; exit 0'

export function stopCommand(group: number): Command {
  if (!Number.isInteger(group) || group <= 1) throw new Error(`not a process group to stop: ${group}`)
  return sh`sh -c ${STOP_GROUP} ${String(group)}`
}

/** The message of a command stopped by a cancel. */
export function cancelledMessage(reason: unknown, label: string): string {
  return `cancelled (${String(reason ?? 'signal')}): the command was stopped on the host: ${label}`
}
