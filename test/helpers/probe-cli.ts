// Runs one readiness probe and prints its result: for tests that probe from another network
// namespace (`unshare -n`), where this process cannot go. Usage: probe-cli.ts <host> <port> <kind>
import { probe } from '../../server/network/probe'

const [host, port, kind] = process.argv.slice(2)
probe(host!, Number(port), kind as 'tcp').then((r) => console.log(r))
