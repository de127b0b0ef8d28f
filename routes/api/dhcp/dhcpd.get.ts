import { defineEventHandler, setResponseHeader } from 'h3'
import { useContext } from '#server/context'
import { dhcpHosts } from '#server/network/dhcp'

export default defineEventHandler(async (event) => {
  setResponseHeader(event, 'content-type', 'text/plain; charset=utf-8')
  return dhcpHosts((await useContext()).store, 'dhcpd')
})
