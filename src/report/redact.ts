/**
 * Keeps secrets out of everything the report writes: files, annotations, console lines.
 *
 * Two kinds of protection:
 * - registered values (inputs, ${ENV} values, passwords, private keys, kubeconfig data), in the forms
 *   they take in logs: as given, line by line for multi-line values (a PEM key printed by `cat`), and
 *   base64-encoded (kubeconfig `client-key-data`, also wrapped at 64/76 columns);
 * - secrets nobody could register because they are born on the nodes (kubeadm join tokens, certificate
 *   keys, generated private keys): recognised by shape, then registered so every later occurrence is
 *   redacted too, wherever it appears.
 */

export const MASK = '***'

const PEM_PRIVATE_BEGIN = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/
const PEM_PRIVATE_END = /-----END [A-Z0-9 ]*PRIVATE KEY-----/
const PEM_PRIVATE_BLOCK = /(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----)/g
const PEM_MARKER = /^-----(BEGIN|END) [A-Z0-9 ]+-----$/
/** kubeadm bootstrap tokens: `[a-z0-9]{6}.[a-z0-9]{16}`. */
const BOOTSTRAP_TOKEN = /(?<![\w.-])[a-z0-9]{6}\.[a-z0-9]{16}(?![\w-])/g
/** base64 of "-----BEGIN" (a PEM at the start of base64 data, as in kubeconfig `*-data` fields). */
const BASE64_PEM = /LS0tLS1CRUdJTi[A-Za-z0-9+/]+={0,2}/g
/** `key: value`, `key=value`, `"key": "value"`, `--key value`, `--key=value` for keys that hold secrets. */
const SECRET_KEYS = [
  'password', 'passwd', 'token', 'bootstrap-token', 'certificate-key', 'certificate_key', 'certificatekey',
  'client-key-data', 'auth', 'identitytoken', 'registrytoken', 'private-key', 'privatekey', 'secret-key',
].join('|')
/** A value: quoted (spaces allowed) or a bare word. */
const VALUE = `("[^"\\n]*"|'[^'\\n]*'|[^\\s"',}]+)`
const KEY_VALUE = new RegExp(`((?:^|[\\s{,(])(?:--)?["']?(?:${SECRET_KEYS})["']?)(\\s*[:=]\\s*)${VALUE}`, 'gi')
/** Command-line flags: `--token abc` (only with `--`: "password is required" is prose, not a value). */
const FLAG_VALUE = new RegExp(`((?:^|\\s)--(?:${SECRET_KEYS}))(\\s+)${VALUE}`, 'gi')
/** kubeadm prints the certificate key on the line after this one. */
const CERTIFICATE_KEY_INTRO = /certificate key:\s*$/i
const HEX_KEY_LINE = /^\s*([0-9a-f]{64})\s*$/
const PLACEHOLDERS = new Set(['<none>', 'null', 'true', 'false', '""', "''", MASK])
/** Found-by-shape values shorter than this are masked where found but not registered (too likely to be common words). */
const MIN_DISCOVERED = 8
/** Derived forms (lines of a multi-line secret, base64 chunks) shorter than this are not registered. */
const MIN_DERIVED = 8

export class Redactor {
  private readonly values = new Set<string>()
  private ordered: string[] = []
  /** Registered values by first character, longest first. */
  private readonly byFirstChar = new Map<string, string[]>()
  /** Called once for every new value, e.g. with `core.setSecret` so the runner masks it on stdout too. */
  onSecret?: (value: string) => void

  constructor(secrets: Iterable<string | undefined> = []) {
    for (const secret of secrets) this.add(secret)
  }

  /** Registers a secret and the forms it takes in logs. Empty and whitespace-only values are ignored. */
  add(secret: string | undefined): void {
    if (!secret || !secret.trim()) return
    for (const form of formsOf(secret)) this.register(form)
  }

  addAll(secrets: Iterable<string | undefined>): void {
    for (const secret of secrets) this.add(secret)
  }

  /** The registered values, longest first (for tests and for masking elsewhere). */
  secrets(): readonly string[] {
    return this.ordered
  }

  /** Redacts a whole text (a file, an error message): multi-line shapes are followed across its lines. */
  redact(text: string): string {
    const lines = this.lines()
    return text.split('\n').map((line) => lines.redact(line)).join('\n')
  }

  /** A redactor for one stream of lines (one command's stdout) that remembers a private key block is open. */
  lines(): LineRedactor {
    return new LineRedactor(this)
  }

  /** Masks the registered values and the single-line shapes in one line. */
  redactLine(line: string): string {
    // Registered values first: a pattern must not cut one into pieces that no longer match it.
    let text = this.maskRegistered(line)
    text = text.replace(PEM_PRIVATE_BLOCK, `$1${MASK}$2`)
    text = text.replace(BASE64_PEM, (match) => (decodesToPrivateKey(match) ? this.discovered(match) : match))
    text = text.replace(BOOTSTRAP_TOKEN, (match) => this.discovered(match))
    const maskValue = (_all: string, key: string, separator: string, value: string) => `${key}${separator}${this.maskValue(value)}`
    return text.replace(KEY_VALUE, maskValue).replace(FLAG_VALUE, maskValue)
  }

  /** A value found after a secret key; quotes stay, placeholders (`<none>`, `""`) stay visible. */
  private maskValue(value: string): string {
    const quote = /^["']/.test(value) ? value[0] : ''
    const inner = quote ? value.slice(1, -1) : value
    if (!inner || PLACEHOLDERS.has(inner.toLowerCase())) return value
    return `${quote}${this.discovered(inner)}${quote}`
  }

  /**
   * Every stretch of text covered by some registered value becomes one mask, overlaps included (a scan
   * that looks up values by their first character: a run registers hundreds of forms, and logs are long).
   */
  private maskRegistered(text: string): string {
    if (!this.values.size) return text
    let out = ''
    let copiedUpTo = 0
    let coveredUpTo = -1
    for (let i = 0; i < text.length; i++) {
      const end = this.longestMatchEnd(text, i)
      if (end <= coveredUpTo || end <= i) continue
      if (i > coveredUpTo) out += text.slice(copiedUpTo, i) + MASK // else: overlaps or touches the current mask
      coveredUpTo = end
      copiedUpTo = end
    }
    return coveredUpTo < 0 ? text : out + text.slice(copiedUpTo)
  }

  /** End of the longest registered value that starts at `i`, or `i` when none does. */
  private longestMatchEnd(text: string, i: number): number {
    for (const secret of this.byFirstChar.get(text[i]) ?? []) if (text.startsWith(secret, i)) return i + secret.length
    return i
  }

  /** Registers a value recognised by its shape (when long enough to be specific) and returns the mask. */
  discovered(value: string): string {
    if (value.length >= MIN_DISCOVERED && !value.includes(MASK)) this.register(value)
    return MASK
  }

  private register(value: string): void {
    if (this.values.has(value)) return
    this.values.add(value)
    this.ordered = [...this.values].sort((a, b) => b.length - a.length)
    const bucket = [...(this.byFirstChar.get(value[0]) ?? []), value].sort((a, b) => b.length - a.length)
    this.byFirstChar.set(value[0], bucket)
    this.onSecret?.(value)
  }
}

/** Redacts line after line of one stream, carrying what a line tells about the next ones. */
export class LineRedactor {
  private inPrivateKey = false
  private certificateKeyNext = false

  constructor(private readonly redactor: Redactor) {}

  redact(line: string): string {
    if (this.inPrivateKey) return this.insidePrivateKey(line)
    if (this.certificateKeyNext) {
      this.certificateKeyNext = false
      const hex = HEX_KEY_LINE.exec(line)
      if (hex) return line.replace(hex[1], this.redactor.discovered(hex[1]))
    }
    const begin = PEM_PRIVATE_BEGIN.exec(line)
    if (begin && !PEM_PRIVATE_END.test(line.slice(begin.index))) {
      this.inPrivateKey = true
      const marker = begin.index + begin[0].length
      const after = line.slice(marker)
      return this.redactor.redactLine(line.slice(0, marker)) + (after.trim() ? MASK : '')
    }
    this.certificateKeyNext = CERTIFICATE_KEY_INTRO.test(line)
    return this.redactor.redactLine(line)
  }

  private insidePrivateKey(line: string): string {
    const end = PEM_PRIVATE_END.exec(line)
    if (!end) {
      this.registerKeyLine(line)
      return line.trim() ? MASK : line
    }
    this.inPrivateKey = false
    const before = line.slice(0, end.index)
    this.registerKeyLine(before)
    return (before.trim() ? MASK : before) + this.redactor.redactLine(line.slice(end.index))
  }

  /** A key printed once may be printed again elsewhere (in a JSON string, in another file): remember its lines. */
  private registerKeyLine(line: string): void {
    const text = line.trim()
    if (text.length >= MIN_DERIVED && !PEM_MARKER.test(text)) this.redactor.discovered(text)
  }
}

/** The forms a secret takes in logs. */
function formsOf(secret: string): string[] {
  const forms = new Set<string>([secret])
  const trimmed = secret.trim()
  forms.add(trimmed)
  if (trimmed.includes('\n')) {
    for (const line of trimmed.split(/\r?\n/)) {
      const text = line.trim()
      if (text.length >= MIN_DERIVED && !PEM_MARKER.test(text)) forms.add(text)
    }
  }
  for (const encoded of base64Forms(trimmed)) {
    forms.add(encoded)
    for (const width of [64, 76]) {
      for (const chunk of chunks(encoded, width)) if (chunk.length >= MIN_DERIVED * 2) forms.add(chunk)
    }
  }
  return [...forms].filter((form) => form.length > 0)
}

/** base64 of the secret with and without a final newline (files usually end with one). */
function base64Forms(trimmed: string): string[] {
  if (trimmed.length < 6) return []
  return [trimmed, `${trimmed}\n`].map((text) => Buffer.from(text).toString('base64'))
}

function chunks(text: string, width: number): string[] {
  if (text.length <= width) return []
  const out: string[] = []
  for (let i = 0; i < text.length; i += width) out.push(text.slice(i, i + width))
  return out
}

function decodesToPrivateKey(base64: string): boolean {
  return /PRIVATE KEY-----/.test(Buffer.from(base64, 'base64').toString('latin1'))
}
