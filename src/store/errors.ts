export class StoreLockedError extends Error {
  override name = 'StoreLockedError'
  constructor (path: string) {
    super(`the database at ${path} is in use by another process (is a specmesh daemon already running on this data folder?); stop it first or pick another --home`)
  }
}

export class StoreCorruptError extends Error {
  override name = 'StoreCorruptError'
}
