/**
 * The `edgeshift` command's own option parser, without running anything: every command is
 * registered exactly as cli/main.ts registers it, and each action is replaced by one that
 * records what the parser made of the arguments. A command line in a deployment file that
 * names a flag the CLI does not have, or gives a value it refuses, fails here as it would
 * in the container.
 */
import { Command, CommanderError } from 'commander';
import { registerCommands } from '../../cli/commands/index.ts';

export interface ParsedCommand {
  /** The subcommand's path, e.g. "node" or "energy agent". */
  command: string;
  /** Options as the command's action would receive them. */
  options: Record<string, unknown>;
  /** Positional arguments. */
  args: string[];
}

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

function pathOf(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Parses `edgeshift <args...>`; throws the parser's error (a CommanderError) on a bad line. */
export async function parseEdgeshift(args: readonly string[]): Promise<ParsedCommand> {
  const program = new Command().name('edgeshift');
  registerCommands(program);
  let parsed: ParsedCommand | undefined;
  const errors: string[] = [];
  for (const command of allCommands(program)) {
    command.exitOverride();
    command.configureOutput({
      writeOut: () => {},
      writeErr: (text) => errors.push(text.trim()),
    });
    if (command.commands.length > 0 && command !== program) continue;
    command.action(function (this: Command) {
      parsed = { command: pathOf(this), options: this.opts(), args: [...this.args] };
    });
  }
  try {
    await program.parseAsync([...args], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      throw new Error(`edgeshift ${args.join(' ')}: ${error.message} ${errors.join(' ')}`.trim());
    }
    throw error;
  }
  if (parsed === undefined) throw new Error(`edgeshift ${args.join(' ')}: no command ran`);
  return parsed;
}
