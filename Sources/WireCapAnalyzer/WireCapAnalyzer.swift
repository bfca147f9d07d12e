// Multi-threaded analyzers over WireCap.
import WireCap
