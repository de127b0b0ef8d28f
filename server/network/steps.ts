import { appendFile, writeFile } from 'node:fs/promises'
import { execa } from 'execa'
import { shq } from '../shell'

/**
 * One privileged step of `labvirt network setup`: a command (argv, no shell), a line appended to a
 * file, or a file's whole content (a sysctl in /proc).
 */
export type SetupStep = { run: string[] } | { append: string; line: string } | { write: string; line: string }

/** The step as a root shell would type it: what `--dry-run` prints. */
export function describeStep(step: SetupStep): string {
  const word = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : shq(a))
  if ('run' in step) return step.run.map(word).join(' ')
  return 'append' in step ? `echo ${word(step.line)} >> ${word(step.append)}` : `echo ${word(step.line)} > ${word(step.write)}`
}

export async function applyStep(step: SetupStep): Promise<void> {
  if ('run' in step) await execa(step.run[0]!, step.run.slice(1))
  else if ('append' in step) await appendFile(step.append, `${step.line}\n`, { mode: 0o644 })
  else await writeFile(step.write, `${step.line}\n`)
}
