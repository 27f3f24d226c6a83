/**
 * Remote commands a cancel can stop. Closing an SSH channel does not end the command behind it (no pty, no
 * SIGHUP), so `kubeadm join` went on running after a cancelled deploy. A cancellable command runs in a
 * session of its own (setsid) whose id it writes to a file; stopping it signals that whole process group.
 */
import { randomBytes } from 'node:crypto'
import { sh, type Command } from './quote.js'

/** A fresh pid file path for one command. */
export function pidFilePath(): string {
  return `/tmp/kk-action-exec-${randomBytes(8).toString('hex')}.pid`
}

// $0 is the pid file, $1 the command: the session leader writes its pid (= the group id), runs the command,
// removes the file and exits with the command's status.
const RUN_IN_SESSION = 'echo "$$" >"$0"; sh -c "$1"; s=$?; rm -f "$0"; exit $s'

export function killable(command: Command, pidFile: string): Command {
  return sh`setsid -w sh -c ${RUN_IN_SESSION} ${pidFile} ${command.text}`
}

// Waits up to 2 s for the pid file (the command may just be starting), sends TERM to the group, and KILL
// a second later to whatever ignored it (a dead group's zombies would make a "still there?" loop wait on).
const STOP_SESSION = [
  'i=0; while [ ! -s "$0" ] && [ "$i" -lt 10 ]; do sleep 0.2; i=$((i + 1)); done',
  'p=$(cat "$0" 2>/dev/null) || exit 0',
  'rm -f "$0"; kill -TERM "-$p" 2>/dev/null || exit 0',
  'sleep 1; kill -KILL "-$p" 2>/dev/null; exit 0',
].join('\n')

export function stopCommand(pidFile: string): Command {
  return sh`sh -c ${STOP_SESSION} ${pidFile}`
}

/** The message of a command stopped by a cancel. */
export function cancelledMessage(reason: unknown, label: string): string {
  return `cancelled (${String(reason ?? 'signal')}): the command was stopped on the host: ${label}`
}
