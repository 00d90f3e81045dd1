// Names a stack may not take: the unit names it generates must neither replace a unit systemd or the
// distribution ships nor nest under one. systemd.special(7) lists systemd's own names; a slice
// "a-b.slice" is a child of "a.slice" (systemd.slice(5)), which is why "/" (escaped to "-") is refused.

/**
 * Prefixes whose generated `<prefix>.target`/`.slice`/`.scope` would be one of systemd's own units
 * (systemd.special(7)), plus "systemd", whose names are systemd's namespace. Only names made of
 * [A-Za-z0-9:_.] can collide: anything else is \xNN-escaped in the prefix.
 */
export const RESERVED_STACK_NAMES: readonly string[] = [
  'system', 'user', 'machine', 'init', 'systemd', 'default', 'basic', 'sysinit', 'shutdown', 'emergency', 'rescue',
  'halt', 'poweroff', 'reboot', 'kexec', 'exit', 'graphical', 'network', 'sockets', 'timers', 'paths', 'slices',
  'swap', 'getty', 'printer', 'sound', 'bluetooth', 'smartcard', 'suspend', 'hibernate', 'sleep', 'umount', 'final',
  'initrd', 'dbus', 'syslog', 'cryptsetup', 'veritysetup', 'integritysetup', 'tpm2', 'blockdev',
];

/** Why `stack` cannot be a stack name, with the fix; undefined when it can. Compared case-sensitively, as unit names are. */
export function reservedStackName(stack: string): { message: string; hint: string } | undefined {
  if (stack.includes('/')) {
    const top = stack.split('/')[0]!;
    return {
      message: `"/" becomes "-" in unit names, and "-" nests a slice under another: ${JSON.stringify(stack)} would put the stack's slice under ${JSON.stringify(`${top}.slice`)} and its limits`,
      hint: `use a name without "/", e.g. ${JSON.stringify(stack.replace(/\//g, '-'))} ("-" is escaped and nests nothing)`,
    };
  }
  if (RESERVED_STACK_NAMES.includes(stack)) {
    return {
      message: `${JSON.stringify(stack)} would generate ${stack}.target/${stack}.slice, names systemd itself uses (systemd.special(7))`,
      hint: `name the stack after the site, e.g. ${JSON.stringify(`${stack}-plone`)}`,
    };
  }
  return undefined;
}

/** The recycle timer's two units (generated only with clients.recycle): the timer starts the service. */
export function recycleUnitNames(prefix: string): { service: string; timer: string } {
  return { service: `${prefix}-recycle.service`, timer: `${prefix}-recycle.timer` };
}

/**
 * The names generated for a stack that already exist in `dirs` (the unit search path or part of it): such a
 * unit would replace, or be replaced by, a unit the system already has. Returns "name (path)" strings.
 */
export function existingUnits(names: readonly string[], dirs: readonly string[], exists: (path: string) => boolean): string[] {
  const out: string[] = [];
  for (const n of names) for (const d of dirs) if (exists(`${d}/${n}`)) { out.push(`${n} (${d}/${n})`); break; }
  return out;
}
