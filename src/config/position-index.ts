import { isMap, isPair, isScalar, isSeq, type LineCounter, type Node, type Pair } from 'yaml'
import { formatPath, type FieldPath } from './field-path.js'

export interface Position {
  line: number
  column: number
}

interface Entry {
  /** Where the key of a mapping entry starts (undefined for sequence items and the root). */
  key?: Position
  /** Where the value starts (undefined when the key has no value, `name:`). */
  value?: Position
  /** The value itself, for scalars. */
  scalar?: unknown
  collection?: boolean
}

/** Source positions of every field of a YAML document, by formatted field path. */
export class PositionIndex {
  private readonly entries = new Map<string, Entry>()

  constructor(root: Node | null | undefined, private readonly lineCounter: LineCounter) {
    if (root) this.visit(root, [], {})
  }

  /**
   * Where a field is written: a scalar's value, a mapping's or list's key (`kubernetes:`). A field that is not in
   * the file is located at the nearest ancestor that is.
   */
  locate(path: FieldPath): Position | undefined {
    for (let length = path.length; length >= 0; length--) {
      const entry = this.entries.get(formatPath(path.slice(0, length)))
      const position = entry?.collection ? (entry.key ?? entry.value) : (entry?.value ?? entry?.key)
      if (position) return position
    }
    return undefined
  }

  /** The position of a mapping key (for errors about the key itself, like an unknown field). */
  locateKey(path: FieldPath): Position | undefined {
    return this.entries.get(formatPath(path))?.key ?? this.locate(path)
  }

  /** The scalar value written at a path (undefined for mappings, lists and missing fields). */
  scalarAt(path: FieldPath): unknown {
    return this.entries.get(formatPath(path))?.scalar
  }

  private visit(node: Node, path: FieldPath, entry: Entry): void {
    this.entries.set(formatPath(path), { ...entry, value: this.positionOf(node), scalar: isScalar(node) ? node.value : undefined, collection: !isScalar(node) })
    if (isMap(node)) {
      for (const pair of node.items) this.visitPair(pair, path)
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        if (isNodeLike(item)) this.visit(item, [...path, index], {})
      })
    }
  }

  private visitPair(pair: Pair<unknown, unknown>, path: FieldPath): void {
    if (!isPair(pair) || !isScalar(pair.key)) return
    const childPath = [...path, String(pair.key.value)]
    const key = this.positionOf(pair.key)
    if (isNodeLike(pair.value)) this.visit(pair.value, childPath, { key })
    else this.entries.set(formatPath(childPath), { key })
  }

  private positionOf(node: Node): Position | undefined {
    if (!node.range) return undefined
    const { line, col } = this.lineCounter.linePos(node.range[0])
    return { line, column: col }
  }
}

function isNodeLike(value: unknown): value is Node {
  return isMap(value) || isSeq(value) || isScalar(value)
}
