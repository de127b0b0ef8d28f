// noVNC 1.7's own types package is out of date: the part of its RFB API the console uses.
declare module '@novnc/novnc' {
  export default class RFB extends EventTarget {
    constructor(target: HTMLElement, urlOrChannel: string | WebSocket, options?: { shared?: boolean; credentials?: Record<string, string> })
    scaleViewport: boolean
    clipViewport: boolean
    background: string
    disconnect(): void
  }
}
