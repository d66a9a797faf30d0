/**
 * Reads a `ray ... start ...` argv the way Ray's click parser does, for the
 * few options head HA needs. Click takes `--opt value` and `--opt=value`, the
 * last occurrence wins, and a flag never takes a value; so every option not
 * listed as a flag here consumes the next word, as click would.
 */

/** `ray start` options that take no value (from `ray start --help`, Ray 2.x). The shim gets the same lists. */
export const START_FLAGS = new Set([
  '--head',
  '--block',
  '--no-redirect-output',
  '--enable-object-reconstruction',
  '--no-monitor',
  '--ray-debugger-external',
  '--disable-usage-stats',
  '--enable-resource-isolation',
  '--help',
  '-v',
  '--verbose',
]);

/** Options of the `ray` group itself, before the subcommand. */
export const GROUP_FLAGS = new Set(['--version', '--help']);

export interface StartArgs {
  /** Index in argv of the `start` word, or -1 when this is not `ray start`. */
  startIndex: number;
  /** Options after `start`, in order: [name, value|null]. */
  options: Array<[string, string | null]>;
}

export function parseStartArgs(argv: readonly string[]): StartArgs {
  let i = 1;
  // Skip the group's own options (`ray --logging-level debug start ...`).
  while (i < argv.length && argv[i]!.startsWith('-')) {
    const word = argv[i]!;
    i += GROUP_FLAGS.has(word) || word.includes('=') ? 1 : 2;
  }
  if (argv[i] !== 'start') return { startIndex: -1, options: [] };
  const startIndex = i;
  const options: Array<[string, string | null]> = [];
  for (i = startIndex + 1; i < argv.length; i++) {
    const word = argv[i]!;
    if (!word.startsWith('-')) continue; // click would reject a stray word; Ray reports it itself
    const eq = word.indexOf('=');
    if (word.startsWith('--') && eq > 0) {
      options.push([word.slice(0, eq), word.slice(eq + 1)]);
    } else if (START_FLAGS.has(word)) {
      options.push([word, null]);
    } else {
      options.push([word, argv[i + 1] ?? null]);
      i++;
    }
  }
  return { startIndex, options };
}

/** The last value given for `name` (click: last wins), or undefined. */
export function optionValue(args: StartArgs, name: string): string | undefined {
  let value: string | undefined;
  for (const [k, v] of args.options) if (k === name && v !== null) value = v;
  return value;
}

export function hasFlag(args: StartArgs, name: string): boolean {
  return args.options.some(([k]) => k === name);
}
