import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { shq } from '../shell'

/**
 * The launcher's loop. Each line it reads is `<token> <command>`; the command runs in a subshell
 * forked twice removed (the loop waits only for the outer one, which exits at once, so none is
 * left a zombie of the loop), which then writes back `<token> <exit status>`. `$nl` is a newline,
 * for an argument that holds one: a line cannot.
 */
const LOOP = `nl=$(printf '\\n_'); nl=\${nl%_}
while IFS= read -r job; do ( ( eval "\${job#* }"; echo "\${job%% *} $?" ) & ); done`

/**
 * All of the server's environment that reaches the shell and QEMU. A guest that broke out into its
 * QEMU would find the rest there (the store's URL with its password, the metrics token), and QEMU
 * needs none of it: TMPDIR is where `snapshot=on` keeps its overlays.
 */
const KEPT_ENV = ['PATH', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ']

/** One argument for a launcher command: POSIX single quotes, a newline spelled as "$nl". */
export const lineq = (s: string) => shq(s).replaceAll('\n', `'"$nl"'`)

interface Shell {
  proc: ChildProcess
  jobs: Map<string, (status: string) => void>
}

/**
 * A resident `sh` that forks the QEMU parents for the server. A fork from node copies the server's
 * page tables and blocks its event loop meanwhile: 2.5 ms per QEMU for a server of some 200 MB
 * (measured in a VM start), where handing the shell a line takes 0.1 ms and its own fork, from a
 * process of 1 MB, little more. Started at the first command, under `nice` when `nice` is set (what
 * it forks inherits it), with KEPT_ENV of the server's environment as it is then; started again
 * when it is gone.
 */
export class Launcher {
  private shell: Shell | undefined
  private next = 0
  constructor(readonly nice: number) {}

  /**
   * Runs `command` (a shell command line, each argument quoted with `lineq`; an `exit` in it would
   * end the subshell before it answers) and resolves with its exit status; '' when it could not
   * run (a NUL byte in it), did not end within `timeoutMs` or the shell went away meanwhile (the
   * command may still be running: nothing here kills it).
   */
  run(command: string, timeoutMs: number): Promise<string> {
    // No argument of a process can hold one (execve ends it there), and the shell would drop it.
    if (command.includes('\0')) {
      console.error('[labvirt] the QEMU launcher refused a command holding a NUL byte')
      return Promise.resolve('')
    }
    const shell = this.shell ?? this.begin()
    const token = String(++this.next)
    return new Promise((done) => {
      const end = (status: string) => {
        clearTimeout(timer)
        shell.jobs.delete(token)
        done(status)
      }
      const timer = setTimeout(() => end(''), timeoutMs)
      shell.jobs.set(token, end)
      shell.proc.stdin!.write(`${token} ${command}\n`)
    })
  }

  /** Lets the shell go: it exits once it has read what it was sent; what it started runs on. */
  close() {
    this.shell?.proc.stdin!.end()
    this.shell = undefined
  }

  private begin(): Shell {
    const argv = ['sh', '-c', LOOP]
    const [file, ...args] = this.nice ? ['nice', '-n', String(this.nice), ...argv] : argv
    const env = Object.fromEntries(KEPT_ENV.flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]]])))
    const proc = spawn(file!, args, { cwd: '/', env, stdio: ['pipe', 'pipe', 'inherit'] })
    const shell: Shell = { proc, jobs: new Map() }
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const space = line.indexOf(' ')
      shell.jobs.get(line.slice(0, space))?.(line.slice(space + 1))
    })
    const gone = (why: string) => {
      if (this.shell === shell) this.shell = undefined
      if (shell.jobs.size) console.error(`[labvirt] the QEMU launcher ended (${why}) with ${shell.jobs.size} start(s) unanswered`)
      for (const end of [...shell.jobs.values()]) end('')
    }
    proc.once('error', (err) => gone(err.message))
    proc.once('exit', (code, signal) => gone(signal ?? `exit ${code}`))
    // A write after it is gone fails with EPIPE: its exit has ended the jobs by then.
    proc.stdin!.on('error', () => {})
    // Idle, it keeps no server from exiting; a command waiting keeps its timer.
    proc.unref()
    for (const s of [proc.stdin, proc.stdout] as unknown as { unref?: () => void }[]) s.unref?.()
    this.shell = shell
    return shell
  }
}
