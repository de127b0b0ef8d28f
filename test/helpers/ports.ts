import { connect, createServer } from 'node:net'

/** A free TCP port on loopback, as the kernel hands it out. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** Sends a line to host:port and resolves with what comes back within `ms`, '' if nothing. */
export function echo(port: number, line: string, ms = 1000): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1')
    let got = ''
    const done = () => {
      sock.destroy()
      resolve(got)
    }
    const timer = setTimeout(done, ms)
    sock.on('connect', () => sock.write(`${line}\n`))
    sock.on('data', (d) => {
      got += d
      if (got.includes('\n')) {
        clearTimeout(timer)
        done()
      }
    })
    sock.on('error', () => {
      clearTimeout(timer)
      done()
    })
  })
}
