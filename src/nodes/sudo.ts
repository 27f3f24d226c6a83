import { sh, type Command } from './quote.js'

/**
 * How a command gets root: `none` (the user is root, or no sudo was asked), `nopasswd`, or `password`,
 * where the password is the first line of stdin (`sudo -S`), never an argument. `-k` makes sudo ask
 * every time, so that first line is always consumed as the password and never reaches the command.
 */
export type SudoMode = 'none' | 'nopasswd' | 'password'

export function withSudo(command: Command, mode: SudoMode): Command {
  if (mode === 'none') return command
  if (mode === 'nopasswd') return sh`sudo -n -- sh -c ${command.text}`
  return sh`sudo -k -S -p '' -- sh -c ${command.text}`
}

/** The bytes to send first on stdin for this mode. */
export function sudoPreamble(mode: SudoMode, password: string | undefined): string {
  return mode === 'password' ? `${password ?? ''}\n` : ''
}

/** sudo's own complaint in a command's stderr, as a sentence for the user, or undefined. */
export function sudoFailure(stderr: string, user: string): string | undefined {
  if (/incorrect password attempt|Sorry, try again/i.test(stderr)) return `sudo rejected the password of user ${user}`
  if (/is not in the sudoers file|is not allowed to execute/i.test(stderr)) return `user ${user} may not use sudo`
  if (/a password is required/i.test(stderr)) return `sudo asks user ${user} for a password`
  if (/sudo: .*not found|sudo: command not found/.test(stderr)) return 'sudo is not installed'
  return undefined
}

/** Asks sudo whether it needs a password (exit 0: NOPASSWD). */
export const SUDO_PROBE: Command = sh`sudo -n true`
