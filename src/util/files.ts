import { readFile } from 'node:fs/promises'

/** A file named by the user that cannot be read at all (missing, a directory, unreadable). */
export class UnreadableFileError extends Error {
  override name = 'UnreadableFileError'
  readonly path: string
  readonly code: string

  constructor (path: string, code: string, message: string) {
    super(message)
    this.path = path
    this.code = code
  }
}

/**
 * Read a text file the user named as a `what` ("spec", "workflow", …), turning
 * the usual failures into one sentence that names the path and the fix.
 */
export async function readUserFile<E extends UnreadableFileError> (
  path: string,
  what: string,
  ErrorClass: new (path: string, code: string, message: string) => E
): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO'
    const why = code === 'ENOENT'
      ? 'no such file; check the path'
      : code === 'EISDIR'
        ? `it is a directory; give the path of a .yaml or .json ${what} file`
        : code === 'EACCES'
          ? 'permission denied; check the file\'s permissions'
          : (err as Error).message
    throw new ErrorClass(path, code, `cannot read ${what} file ${path}: ${why}`)
  }
}
