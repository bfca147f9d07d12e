#ifndef WIRECAP_CPCAP_SHIM_H
#define WIRECAP_CPCAP_SHIM_H
#include <pcap/pcap.h>
#endif
