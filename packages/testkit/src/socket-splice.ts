// Owns joining two sockets into one connection, both ways, so that either end closing or failing ends the other:
// the node's forwards and CONNECT proxy (inside its namespace) and the machine's side of the forwards use it.
import type { Socket } from "node:net"

export const splice = (a: Socket, b: Socket) => {
  a.pipe(b)
  b.pipe(a)
  for (const [from, to] of [[a, b], [b, a]] as const) {
    from.on("error", () => to.destroy())
    from.on("close", () => to.destroy())
  }
}
