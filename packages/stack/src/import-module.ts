// import() of an ES module file at run time (zstack try loads its disposable systemd, dist/box.js, this way).
// Code that V8 took out of the code cache (src/code-cache.ts) cannot reach node's loader with import() on Node 20
// (it throws ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so the launcher lends the program its own import().

let importer: (url: string) => Promise<unknown> = (url) => import(url);

/** Used by the launcher before the program runs: every importModule() goes through `f`. */
export function setImporter(f: (url: string) => Promise<unknown>): void { importer = f; }

/** The module at `url` (an absolute file: URL). */
export function importModule(url: string): Promise<unknown> { return importer(url); }
