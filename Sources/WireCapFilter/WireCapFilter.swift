// libpcap filter compilation and matching (see PacketFilter).
import CPCAP
