// What the generated units need from this machine, checked when they are generated for it (not for remote
// hosts): the executables they run exist and may be run (the tools, ZEO's and the clients' programs, their command
// checks), and nothing they run or name by absolute path is hidden by their own sandbox.
// A unit that fails either way loops in auto-restart with `status=203/EXEC` or a wrapper that cannot find its
// config; the warning says so at generate time, one per path, at the stack file's key that gives it, with the fix.
//
// What hardening.hbs hides (systemd.exec(5)): PrivateTmp=yes gives the service an empty /tmp and /var/tmp of its
// own; ProtectHome=yes makes /home, /root and /run/user inaccessible (read-only instead when the stack's own
// directory is under /home: still visible). ProtectSystem=strict makes the rest read-only, not invisible.
import { accessSync, constants, realpathSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { firstDirHolding } from '@zope-systemd/common';
import { configIssue, type ConfigIssue } from './errors.js';
import type { GeneratedFile } from './render.js';
import { positionOf } from './source-place.js';
import { HOME_DIRS, type StackModel } from './model.js';

/** What the machine is asked; node:fs by default, injectable for tests. */
export interface HostFs {
  access(path: string, mode: number): void;
  realpath(path: string): string;
  /** PATH of the operator's shell, where the fix looks for a tool. */
  path: string | undefined;
}

const nodeFs: HostFs = { access: accessSync, realpath: (p) => realpathSync(p), path: process.env.PATH };

/** What a unit's sandbox hides: PrivateTmp=yes, and ProtectHome= ('no' where the unit does not set it). */
export interface Sandbox { privateTmp: boolean; protectHome: 'yes' | 'read-only' | 'no' }

/** The sandbox of the stack's services (hardening.hbs): ZEO and the clients, so what znotify and zunitgen run under. */
export function servicesSandbox(m: Pick<StackModel, 'hardening' | 'protectHome'>): Sandbox {
  return m.hardening ? { privateTmp: true, protectHome: m.protectHome } : { privateTmp: false, protectHome: 'no' };
}

/** The recycle service's sandbox (recycle.service.hbs), where zstack runs: read-only paths, nothing hidden. */
export const RECYCLE_SANDBOX: Sandbox = { privateTmp: false, protectHome: 'read-only' };

/** What PrivateTmp=yes replaces with the service's own empty directories (systemd.exec(5)). */
const PRIVATE_TMP_DIRS = ['/tmp', '/var/tmp'];

/** The directive of sandbox `s` that hides `path`, with what it hides; undefined when visible. */
export function hiddenBy(s: Sandbox, path: string): string | undefined {
  if (s.privateTmp && firstDirHolding(path, PRIVATE_TMP_DIRS)) return 'PrivateTmp=yes hides /tmp and /var/tmp';
  if (s.protectHome === 'yes' && firstDirHolding(path, HOME_DIRS)) return 'ProtectHome=yes hides /home, /root and /run/user';
  return undefined;
}

/** The stack file's key of each tool, with the argv the units run it by. */
function toolsUsed(m: StackModel, files: readonly GeneratedFile[]): { key: 'znotify' | 'zunitgen' | 'zstack'; argv: string[] }[] {
  const units = files.filter((f) => f.kind === 'unit').map((f) => f.content).join('\n');
  return (['znotify', 'zunitgen', 'zstack'] as const)
    .map((key) => ({ key, argv: m[key] }))
    .filter((t) => t.argv[0] !== undefined && units.includes(t.argv[0]));
}

/** `command -v name` in PATH: the first executable file of that name, or undefined. */
function onPath(name: string, fs: HostFs): string | undefined {
  for (const dir of (fs.path ?? '').split(delimiter)) {
    if (!dir.startsWith('/')) continue;
    try { fs.access(join(dir, name), constants.X_OK); return join(dir, name); } catch { /* next */ }
  }
  return undefined;
}

/** One absolute word of the stack's own commands: its key (the first client's), and each client's path there. */
interface CommandWord { key: string; base: string; executable: boolean; paths: string[] }

/**
 * Every absolute path word of zeo.command, clients.command and the clients' command checks, one per key, with the
 * distinct paths the clients give it once `{n}` is put in. Relative arguments are the program's business.
 */
function commandWords(m: StackModel): CommandWord[] {
  const byKey = new Map<string, CommandWord>();
  const add = (base: string, argv: readonly string[] | undefined): void => {
    (argv ?? []).forEach((p, i) => {
      if (!p.startsWith('/')) return;
      const key = `${base}[${i}]`;
      const w = byKey.get(key) ?? { key, base, executable: i === 0, paths: [] };
      if (!w.paths.includes(p)) w.paths.push(p);
      byKey.set(key, w);
    });
  };
  add('zeo.command', m.zeo?.command);
  for (const c of m.clients) {
    add('clients.command', c.command);
    for (const k of c.checks) add(`clients.checks[name=${k.name}].command`, k.command);
  }
  return [...byKey.values()];
}

/** What is wrong with one path of a command word here, or undefined: see commandWordIssue. */
function commandPathProblem(w: CommandWord, p: string, s: Sandbox, fs: HostFs): { message: string; fix: string } | undefined {
  try {
    fs.access(p, w.executable ? constants.X_OK : constants.F_OK);
  } catch (e) {
    if (!w.executable) return undefined; // `/Plone`, or a file the program creates: not for this machine to have
    const found = onPath(basename(p), fs);
    return {
      message: `${p}: the units run it (${w.base}), but it is not executable here (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      fix: `install or build it there, or set \`${w.base}\` to where it is${found && found !== p ? `; \`command -v ${basename(p)}\` finds ${found}` : ''}`,
    };
  }
  let real = p;
  try { real = fs.realpath(p); } catch { /* checked as written */ }
  const by = hiddenBy(s, p) ?? hiddenBy(s, real);
  if (!by) return undefined;
  const dirs = by.startsWith('PrivateTmp') ? PRIVATE_TMP_DIRS.join(' and ') : '/home, /root and /run/user';
  return {
    message: `${p}${real !== p ? ` (${real})` : ''}: ${w.executable ? `the units run it (${w.base})` : `${w.base} names it`}, but ${by} from the stack's services`,
    fix: `move it out of ${dirs} (for example under /srv) and point \`${w.base}\` there (or set hardening: false)`,
  };
}

/**
 * The warning for one word of the stack's commands: its executable as a tool's (missing, not executable, hidden by
 * the services' sandbox); an argument only when it exists here and is hidden, since an argument that is no file here
 * may be no file at all (`/Plone`) or one the program creates. Once per key: the first client's path that fails,
 * naming the other clients' paths that fail there too.
 */
function commandWordIssue(m: StackModel, w: CommandWord, fs: HostFs): ConfigIssue | undefined {
  const s = servicesSandbox(m);
  const failing = w.paths.flatMap((p) => { const r = commandPathProblem(w, p, s, fs); return r ? [{ p, ...r }] : []; });
  const first = failing[0];
  if (!first) return undefined;
  const others = failing.slice(1).map((f) => f.p);
  const also = others.length ? ` (also ${others.slice(0, 3).join(', ')}${others.length > 3 ? ` and ${others.length - 3} more` : ''})` : '';
  return configIssue({ ...positionOf(m, w.key), key: w.key, message: `${first.message}${also}`, fix: first.fix });
}

/**
 * One warning per path the units need that this machine does not give them: a missing or non-executable tool or
 * command (ZEO's, the clients', their command checks), a tool, command path, config directory or stack directory the
 * sandbox hides. Each names the path, what is wrong and the fix, at
 * the exact key of the stack file that gives the path (the parser's positions); the output directory at --out.
 */
export function hostPathWarnings(m: StackModel, files: readonly GeneratedFile[], outDir: string, fs: HostFs = nodeFs): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const at = (key: string): Pick<ConfigIssue, 'file' | 'line' | 'col' | 'key'> => ({ ...positionOf(m, key), key });
  const hiddenLine = (where: Pick<ConfigIssue, 'file' | 'line' | 'col' | 'key'>, path: string, what: string, fix: string, s: Sandbox = servicesSandbox(m), from = 'the stack\'s services'): void => {
    let real = path;
    try { real = fs.realpath(path); } catch { /* checked as written */ }
    const by = hiddenBy(s, path) ?? hiddenBy(s, real);
    if (by) out.push(configIssue({ ...where, message: `${path}${real !== path ? ` (${real})` : ''}: ${what}, but ${by} from ${from}`, fix: `${fix} (or set hardening: false)` }));
  };
  for (const { key, argv } of toolsUsed(m, files)) {
    argv.forEach((p, i) => {
      if (!p.startsWith('/')) return;
      const mode = i === 0 ? constants.X_OK : constants.R_OK;
      try {
        fs.access(p, mode);
      } catch (e) {
        const found = i === 0 ? onPath(basename(p), fs) : undefined;
        const where = found && found !== p ? `; \`command -v ${basename(p)}\` finds ${found}` : `; \`command -v ${basename(p)}\` shows where it is installed`;
        out.push(configIssue({ ...at(`${key}[${i}]`), message: `${p}: the units run it (${key}:), but it is not ${i === 0 ? 'executable' : 'readable'} here (${(e as NodeJS.ErrnoException).code ?? 'error'})`, fix: `set \`${key}:\` in the stack file to its path${where}` }));
        return;
      }
      // Asked of the unit that runs the tool: zstack runs in the recycle service, the others in the stack's services.
      const [sandbox, unit] = key === 'zstack' ? [RECYCLE_SANDBOX, 'the recycle service'] : [servicesSandbox(m), 'the stack\'s services'];
      hiddenLine(at(`${key}[${i}]`), p, `the units run it (${key}:)`, `install it elsewhere (npm install -g puts it in $(npm config get prefix)/bin) and set \`${key}:\``, sandbox, unit);
    });
  }
  for (const w of commandWords(m)) { const issue = commandWordIssue(m, w, fs); if (issue) out.push(issue); }
  if (m.clients.length) hiddenLine({ file: '--out', line: 0, col: 0, key: '' }, outDir, 'the clients read their znotify configs from here', 'generate into /etc/systemd/system');
  hiddenLine(at('directory'), m.directory, 'it is the stack\'s directory (directory:)', 'move the instance out of it');
  return out;
}
