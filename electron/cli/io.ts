/** Where a command writes: injectable so tests can capture output without spawning. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  isTty: boolean;
}

export const processIo: CommandIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  isTty: Boolean(process.stdout.isTTY),
};
