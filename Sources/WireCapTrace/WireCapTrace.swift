// Trace formats (pcap/pcapng), synthetic traces and RSS steering: pure Swift, no syscalls beyond file I/O.
