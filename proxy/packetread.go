package proxy

// packetBuffer receives one client packet from packet.Conn.ReadPacketTo,
// enforcing max_allowed_packet: past max it keeps reading but drops the
// bytes, so that the client, which is still writing, can read our error
// 1153 instead of a broken pipe. Past max+drainLimit it gives up.
type packetBuffer struct {
	b   []byte
	max int
	n   int
}

// drainLimit is how much of an oversized packet is read and dropped
// before the connection is simply closed.
const drainLimit = 64 << 20

// keepCap is the capacity a buffer keeps between commands; a bigger one
// (after a large packet) is released.
const keepCap = 1 << 20

func (p *packetBuffer) reset() {
	if cap(p.b) > keepCap {
		p.b = nil
	}
	p.b = p.b[:0]
	p.n = 0
}

func (p *packetBuffer) tooLarge() bool { return p.n > p.max }

func (p *packetBuffer) Write(d []byte) (int, error) {
	p.n += len(d)
	if p.n > p.max {
		p.b = p.b[:0]
		if p.n > p.max+drainLimit {
			return 0, errPacketTooLarge
		}
		return len(d), nil
	}
	p.b = append(p.b, d...)
	return len(d), nil
}
