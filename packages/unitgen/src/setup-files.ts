// The service user and the writable directories, the systemd way: a sysusers.d(5) file that declares the user
// (and its group) and a tmpfiles.d(5) file that declares the writable paths with their owner, applied by the
// stack's setup unit (<prefix>-setup.service: `systemd-sysusers FILE`, `systemd-tmpfiles --create FILE`) before
// ZEO and the clients start. So a fresh host needs no `useradd` or `chown`, and nothing is done twice: an
// existing user or group is left as it is, an existing directory only gets var/'s owner and mode.
// Pure: model in, file text out. Names and paths are validated by the parser (user and group names
// [a-z_][a-z0-9_-]*, paths of [A-Za-z0-9._/+@,:=~%-] only); `%` starts a specifier in both formats and is
// doubled; anything else that could end a field is refused here once more.

import { TemplateError } from './errors.js';
import { commentText } from './escape.js';
import type { StackModel } from './model.js';

export const setupUnitName = (prefix: string) => `${prefix}-setup.service`;
export const sysusersName = (prefix: string) => `${prefix}.sysusers.conf`;
export const tmpfilesName = (prefix: string) => `${prefix}.tmpfiles.conf`;

/** One whitespace-separated field of a sysusers.d/tmpfiles.d line: `%` doubled; whitespace, quotes, `\` refused. */
function field(v: string, what: string): string {
  if (v === '' || /[\s"'\\\u0000-\u001f\u007f]/.test(v)) throw new TemplateError(`${what} ${JSON.stringify(v)} cannot be written as one field of a sysusers.d/tmpfiles.d line`);
  return v.replace(/%/g, '%%');
}

/** The group the directories belong to: the configured one, else the one named like the user (declared in sysusers). */
export function ownerGroup(m: StackModel): string {
  return m.group ?? m.user;
}

export function sysusersText(m: StackModel, header: string): string {
  const group = ownerGroup(m);
  // GECOS: the stack's name where it is plain text; sysusers rejects ":" and control characters there.
  const gecos = /^[A-Za-z0-9 ._-]{1,64}$/.test(m.stack) ? `Zope stack ${m.stack}` : 'Zope stack';
  // The home directory is the instance's; sysusers refuses one with ":" (it would split the passwd line): "/" then.
  const home = m.directory.includes(':') ? '-' : field(m.directory, 'directory');
  return [
    header,
    `# The service user of the ${commentText(JSON.stringify(m.stack))} stack (sysusers.d(5)), created by ${setupUnitName(m.prefix)}`,
    '# (systemd-sysusers <this file>) before ZEO and the clients start. An existing user or group is left as it is.',
    // The group first: the user then gets it as its primary group, also when only the group was missing.
    `g ${field(group, 'group')} -`,
    `u ${field(m.user, 'user')} ${m.group ? `-:${field(group, 'group')}` : '-'} "${gecos}" ${home}`,
    '',
  ].join('\n');
}

export function tmpfilesText(m: StackModel, header: string): string {
  const owner = `${field(m.user, 'user')} ${field(ownerGroup(m), 'group')}`;
  const lines = [
    header,
    `# The writable paths of the stack (tmpfiles.d(5)), created by ${setupUnitName(m.prefix)} (systemd-tmpfiles --create`,
    '# <this file>) before ZEO and the clients start.',
    '# var/: the instance writes there; created, and its owner and mode set again on every start of the stack.',
    '# "d-": optional, as in ReadWritePaths=-: where it cannot be made (a read-only code directory of an instance',
    '# on RelStorage, which has no var/), tmpfiles logs why and the setup still succeeds.',
    `d- ${field(m.varPath, 'path')} 0750 ${owner} -`,
  ];
  if (m.readWritePaths.length) {
    // ":" before mode, user and group: used when creating only (tmpfiles.d(5)); an existing path keeps its own.
    lines.push('# read-write-paths: created with this owner when missing; an existing one is left as it is.');
    for (const p of m.readWritePaths) lines.push(`d ${field(p, 'path')} :0750 :${field(m.user, 'user')} :${field(ownerGroup(m), 'group')} -`);
  }
  return `${lines.join('\n')}\n`;
}
