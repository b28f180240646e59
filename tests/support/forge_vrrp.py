# Send forged VRRPv3 adverts from a lab host (test support; runs inside the host).
# Args: SRC VRID PRIORITY TTL VIP COUNT [badsum]
import socket, struct, sys, time

src, vrid, prio, ttl, vip, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
bad = len(sys.argv) > 7 and sys.argv[7] == "badsum"
dst = "224.0.0.18"

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

body = struct.pack("!BBBBH", 0x31, vrid, prio, 1, 100) + b"\0\0" + socket.inet_aton(vip)
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 112, len(body))
c = csum(pseudo + body)
if bad:
    c ^= 0x5A5A
pkt = body[:6] + struct.pack("!H", c) + body[8:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
for _ in range(count):
    s.sendto(pkt, (dst, 0))
    time.sleep(0.1)
