/** Where a user error points: a file position, a config field path, a host. */
export interface ErrorLocation {
  file?: string
  line?: number
  column?: number
  field?: string
  host?: string
}

/**
 * An error the user can fix. Its message says what is wrong, where, and what to do; it is printed
 * as one line (no stack) by the CLI and as an `::error` annotation by the action.
 */
export class UserError extends Error {
  readonly location: ErrorLocation
  readonly hint?: string

  constructor(problem: string, location: ErrorLocation = {}, hint?: string) {
    super(formatUserError(problem, location, hint))
    this.name = 'UserError'
    this.location = location
    this.hint = hint
  }
}

export function formatUserError(problem: string, where: ErrorLocation, hint?: string): string {
  const position = where.file
    ? [where.file, where.line, where.line !== undefined ? where.column : undefined].filter((p) => p !== undefined).join(':')
    : undefined
  const prefix = [position, where.host && `host ${where.host}`, where.field].filter(Boolean).join(': ')
  const text = prefix ? `${prefix}: ${problem}` : problem
  return hint ? `${text}. ${hint}` : text
}

export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError
}
