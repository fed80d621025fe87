// The two patch formats the in-memory apiserver accepts: JSON Patch (RFC 6902, with JSON Pointer, RFC 6901) and JSON
// Merge Patch (RFC 7386), as pure functions over plain JSON values.

export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/** A patch that cannot be applied to the document (a failed `test`, a missing path, ...). */
export class JsonPatchError extends Error {
  override readonly name = "JsonPatchError"
}

/** A patch document that is not a JSON Patch at all (not an array of operations). */
export class MalformedPatchError extends Error {
  override readonly name = "MalformedPatchError"
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

export const deepEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, index) => deepEqual(item, b[index]))
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a)
    return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && deepEqual(a[key], b[key]))
  }
  return false
}

const copy = <A>(value: A): A => (value === undefined ? value : structuredClone(value))

const parsePointer = (pointer: string): Array<string> => {
  if (pointer === "") return []
  if (!pointer.startsWith("/")) throw new JsonPatchError(`invalid JSON pointer ${JSON.stringify(pointer)}`)
  return pointer.slice(1).split("/").map((token) => token.replace(/~1/g, "/").replace(/~0/g, "~"))
}

const arrayIndex = (token: string, length: number, allowEnd: boolean): number => {
  if (allowEnd && token === "-") return length
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new JsonPatchError(`invalid array index ${JSON.stringify(token)}`)
  const index = Number(token)
  if (index > length || (!allowEnd && index === length)) throw new JsonPatchError(`array index ${index} out of bounds`)
  return index
}

/** The container holding the pointer's last token, and that token. */
const locate = (document: unknown, tokens: ReadonlyArray<string>): { parent: unknown; key: string } => {
  let node: unknown = document
  for (const token of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[arrayIndex(token, node.length, false)]
    else if (isObject(node) && Object.hasOwn(node, token)) node = node[token]
    else throw new JsonPatchError(`path component ${JSON.stringify(token)} does not exist`)
  }
  return { parent: node, key: tokens[tokens.length - 1]! }
}

const read = (document: unknown, tokens: ReadonlyArray<string>): unknown => {
  if (tokens.length === 0) return document
  const { parent, key } = locate(document, tokens)
  if (Array.isArray(parent)) return parent[arrayIndex(key, parent.length, false)]
  if (isObject(parent) && Object.hasOwn(parent, key)) return parent[key]
  throw new JsonPatchError(`path ${JSON.stringify(key)} does not exist`)
}

interface Operation {
  readonly op: string
  readonly path: string
  readonly from?: string
  readonly value?: unknown
}

const requireValue = (operation: Operation) => {
  if (!Object.hasOwn(operation, "value")) throw new JsonPatchError(`${operation.op} operation has no value`)
  return copy(operation.value)
}

/**
 * Apply a JSON Patch to a copy of `document`. All operations apply or none: a failure throws JsonPatchError and the
 * input is left untouched.
 */
export const applyJsonPatch = (document: unknown, patch: unknown): unknown => {
  if (!Array.isArray(patch)) throw new MalformedPatchError("a JSON patch must be an array of operations")
  for (const operation of patch) {
    if (!isObject(operation) || typeof operation.op !== "string" || typeof operation.path !== "string") {
      throw new MalformedPatchError("every JSON patch operation needs an op and a path")
    }
  }
  let result = copy(document)
  const add = (tokens: ReadonlyArray<string>, value: unknown) => {
    if (tokens.length === 0) {
      result = value
      return
    }
    const { parent, key } = locate(result, tokens)
    if (Array.isArray(parent)) parent.splice(arrayIndex(key, parent.length, true), 0, value)
    else if (isObject(parent)) parent[key] = value
    else throw new JsonPatchError(`cannot add ${JSON.stringify(key)} to a scalar`)
  }
  const remove = (tokens: ReadonlyArray<string>): unknown => {
    if (tokens.length === 0) throw new JsonPatchError("cannot remove the whole document")
    const { parent, key } = locate(result, tokens)
    if (Array.isArray(parent)) return parent.splice(arrayIndex(key, parent.length, false), 1)[0]
    if (isObject(parent) && Object.hasOwn(parent, key)) {
      const removed = parent[key]
      delete parent[key]
      return removed
    }
    throw new JsonPatchError(`cannot remove missing key ${JSON.stringify(key)}`)
  }
  for (const operation of patch as ReadonlyArray<Operation>) {
    const tokens = parsePointer(operation.path)
    switch (operation.op) {
      case "add":
        add(tokens, requireValue(operation))
        break
      case "remove":
        remove(tokens)
        break
      case "replace": {
        const value = requireValue(operation)
        read(result, tokens)
        if (tokens.length === 0) {
          result = value
          break
        }
        const { parent, key } = locate(result, tokens)
        if (Array.isArray(parent)) parent[arrayIndex(key, parent.length, false)] = value
        else (parent as Record<string, unknown>)[key] = value
        break
      }
      case "move": {
        if (operation.from === undefined) throw new JsonPatchError("move operation has no from")
        const from = parsePointer(operation.from)
        if (tokens.length > from.length && from.every((token, index) => tokens[index] === token)) {
          throw new JsonPatchError("cannot move a value into itself")
        }
        add(tokens, remove(from))
        break
      }
      case "copy": {
        if (operation.from === undefined) throw new JsonPatchError("copy operation has no from")
        add(tokens, copy(read(result, parsePointer(operation.from))))
        break
      }
      case "test": {
        const expected = requireValue(operation)
        if (!deepEqual(read(result, tokens), expected)) throw new JsonPatchError(`testing value ${operation.path} failed`)
        break
      }
      default:
        throw new JsonPatchError(`unknown operation ${JSON.stringify(operation.op)}`)
    }
  }
  return result
}

/** Apply a JSON Merge Patch: objects merge key by key, `null` deletes, anything else replaces. */
export const applyMergePatch = (document: unknown, patch: unknown): unknown => {
  if (!isObject(patch)) return copy(patch)
  const result: Record<string, unknown> = isObject(document) ? copy(document) : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key]
    else result[key] = applyMergePatch(result[key], value)
  }
  return result
}
