import { isMap, LineCounter, parseAllDocuments, visit, type Document, type Node } from 'yaml'
import { errorAt } from './source.js'

export const CLUSTER_API_VERSION = 'kubekey.kubesphere.io/v1alpha2'
export const CLUSTER_KIND = 'Cluster'

export interface ClusterDocument {
  document: Document.Parsed
  lineCounter: LineCounter
  /** One notice per other document that was skipped. */
  notices: string[]
}

interface DocumentSummary {
  document: Document.Parsed
  number: number
  line: number
  column: number
  kind: unknown
  apiVersion: unknown
}

/** Parses every YAML document of the file and returns the one `kind: Cluster` document. */
export function selectClusterDocument(text: string, file: string): ClusterDocument {
  const lineCounter = new LineCounter()
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: false, logLevel: 'error', merge: true })
  for (const document of documents) {
    throwOnSyntaxError(document, lineCounter, file)
    throwOnUnresolvedAlias(document, lineCounter, file)
  }

  const summaries = documents.flatMap((document, index) => summarize(document, index + 1, lineCounter, file))
  if (summaries.length === 0) {
    throw errorAt(file, undefined, undefined, 'the file is empty', { hint: `Write a KubeKey config: apiVersion: ${CLUSTER_API_VERSION}, kind: ${CLUSTER_KIND}` })
  }
  const clusters = summaries.filter((summary) => summary.kind === CLUSTER_KIND)
  if (clusters.length === 0) throw noClusterDocument(summaries, file)
  if (clusters.length > 1) {
    const second = clusters[1]
    throw errorAt(file, second, 'kind', `more than one kind: ${CLUSTER_KIND} document (documents ${clusters[0].number} and ${second.number})`, {
      hint: 'Keep one cluster per file',
    })
  }
  const cluster = clusters[0]
  if (cluster.apiVersion !== CLUSTER_API_VERSION) {
    throw errorAt(file, cluster, 'apiVersion', `apiVersion ${JSON.stringify(cluster.apiVersion ?? null)} is not supported`, {
      hint: `kk-action reads KubeKey's ${CLUSTER_API_VERSION} Cluster (what \`kk create config\` writes)`,
    })
  }
  const notices = summaries
    .filter((summary) => summary !== cluster)
    .map((summary) => `${file}:${summary.line}: ignored document ${summary.number} (kind ${describe(summary.kind)}): kk-action reads only the ${CLUSTER_KIND} document`)
  return { document: cluster.document, lineCounter, notices }
}

function throwOnSyntaxError(document: Document.Parsed, lineCounter: LineCounter, file: string): void {
  const [first] = document.errors
  if (!first) return
  const { line, col } = lineCounter.linePos(first.pos[0])
  const hint = first.code === 'TAB_AS_INDENT' ? 'Indent with spaces; YAML does not allow tabs' : 'Fix the YAML syntax'
  throw errorAt(file, { line, column: col }, undefined, `invalid YAML: ${first.message}`, { hint })
}

function throwOnUnresolvedAlias(document: Document.Parsed, lineCounter: LineCounter, file: string): void {
  visit(document, {
    Alias(_, alias) {
      if (alias.resolve(document)) return
      const { line, col } = lineCounter.linePos(alias.range?.[0] ?? 0)
      throw errorAt(file, { line, column: col }, undefined, `invalid YAML: alias *${alias.source} has no anchor &${alias.source} before it`, {
        hint: 'Define the anchor first, or write the value',
      })
    },
  })
}

/** The document as plain data; YAML's own limits (e.g. on alias expansion) become a UserError. */
export function documentData(document: Document.Parsed, lineCounter: LineCounter, file: string): unknown {
  try {
    return document.toJS()
  } catch (error) {
    const { line, col } = lineCounter.linePos(document.contents?.range?.[0] ?? 0)
    throw errorAt(file, { line, column: col }, undefined, `invalid YAML: ${(error as Error).message}`, { hint: 'Write the values without so many aliases' })
  }
}

/** Empty documents (a stray `---`) are left out. */
function summarize(document: Document.Parsed, number: number, lineCounter: LineCounter, file: string): DocumentSummary[] {
  const contents = document.contents as Node | null
  const data = documentData(document, lineCounter, file)
  if (!contents || (!isMap(contents) && (data === null || data === undefined))) return []
  const { line, col } = lineCounter.linePos(contents.range?.[0] ?? 0)
  const fields = isRecord(data) ? data : {}
  return [{ document, number, line, column: col, kind: fields.kind, apiVersion: fields.apiVersion }]
}

function noClusterDocument(summaries: DocumentSummary[], file: string) {
  const first = summaries[0]
  const found = summaries.map((summary) => `document ${summary.number}: kind ${describe(summary.kind)}`).join('; ')
  return errorAt(file, first, 'kind', `no kind: ${CLUSTER_KIND} document in the file (${found})`, {
    hint: `kk-action reads a KubeKey config with apiVersion: ${CLUSTER_API_VERSION} and kind: ${CLUSTER_KIND}`,
  })
}

function describe(kind: unknown): string {
  return typeof kind === 'string' ? kind : 'missing'
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
