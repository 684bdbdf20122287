/**
 * The id of the command this process runs (BaseCommand#init sets it): admin sessions name it in
 * their requests so a rocketctl broker's audit log can say which command made a change. A module of
 * its own so BaseCommand does not load the flag definitions' imports for every command.
 */
let runningCommand: string | undefined;

export function setRunningCommand(id: string | undefined): void {
  runningCommand = id;
}

export function getRunningCommand(): string | undefined {
  return runningCommand;
}
