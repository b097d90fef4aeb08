/**
 * The URL of a module next to the calling one, for the places the compiler
 * cannot rewrite (a Worker's entry point). In a checkout the sources run as
 * .ts; in the built package (dist/) they are .js, and tsc only rewrites the
 * extensions of import specifiers, never of a string handed to new URL().
 */
export function siblingModule (relativeTsPath: string, importMetaUrl: string): URL {
  const built = !importMetaUrl.endsWith('.ts')
  return new URL(built ? relativeTsPath.replace(/\.ts$/, '.js') : relativeTsPath, importMetaUrl)
}
