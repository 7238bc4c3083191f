/*
 * wsman-bench-server: a small, cheap WS-Management responder for benchmarks.
 *
 * Why it exists: the project's test server (python -m aiowsman.testing) is a
 * full emulator written in Python; it spends ~500 us of CPU per fan-out host.
 * On a 2-core machine that leaves too little CPU for a client that wants to use
 * both cores, so the benchmark suite needs an independent server whose own cost
 * is small enough to ignore.  This one costs a few microseconds per request.
 *
 * What it does (and nothing more):
 *   - HTTP/1.1 with keep-alive (Content-Length bodies; "Connection: close" and
 *     HTTP/1.0 honoured), Basic authentication against --users USER:PASSWORD.
 *   - Many simulated hosts: one listening socket per host on 127.0.0.1
 *     (--address-mode ports), or one socket for every 127.x.y.z address on one
 *     port (--address-mode addresses: INADDR_ANY bound to the loopback device,
 *     so nothing outside loopback can reach it).
 *   - A fixed simulated latency per request (--latency SECONDS) without
 *     blocking: with one constant latency the due times are in arrival order,
 *     so a FIFO and one timerfd are enough.
 *   - Identify; Get of Win32_OperatingSystem (a singleton) and Win32_Service
 *     (selector Name); Enumerate (optimized or not) / Pull / Release of
 *     Win32_Process with --items N instances.  Anything else gets the SOAP
 *     fault Windows sends.  Every answer echoes the request's MessageID in
 *     a:RelatesTo (WS-Addressing; clients check the correlation).
 *
 * Reply shapes follow Windows WinRM captures (tests/corpus: the pypsrp-*,
 * knifewin-* and winrb-* files): namespace prefixes, xml:lang, the
 * Microsoft-HTTPAPI/2.0 Server header, HTTP 500 for faults, and WMI instances
 * as <p:Class xsi:type="p:Class_Type"> with xsi:nil for NULL properties.
 *
 * The request is read by element local names (Action, MessageID,
 * ResourceURI, Selector, EnumerationContext, MaxElements,
 * OptimizeEnumeration, Identify); namespaces are not checked.  This is a
 * benchmark responder, not a conformance tool: the emulator with every rule is
 * aiowsman.testing.
 *
 * Build: cc -O2 -o wsman-bench-server wsman_bench_server.c (Linux only: epoll,
 * timerfd, signalfd).  Usage: see usage() below or run with --help.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_USERS 16
#define MAX_SELECTORS 8
#define MAX_REQUEST (4u << 20) /* headers + body; WinRM's MaxEnvelopeSize is 500 KB */
#define READ_CHUNK 65536
#define DEFAULT_ITEMS 1000

static const char NS_ENVELOPE[] =
    "xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" "
    "xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" "
    "xmlns:x=\"http://schemas.xmlsoap.org/ws/2004/09/transfer\" "
    "xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" "
    "xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" "
    "xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd\"";
static const char ANONYMOUS[] = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";
static const char WMI_CIMV2[] = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/";

static const char A_GET[] = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
static const char A_ENUMERATE[] = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
static const char A_PULL[] = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
static const char A_RELEASE[] = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release";
static const char A_FAULT_WSMAN[] = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
static const char A_FAULT_ADDRESSING[] = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";

/* -------------------------------------------------------------------------- */
/* growable byte buffers                                                       */

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("wsman-bench-server: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) die("out of memory");
    b->p = p;
    b->cap = cap;
}

static void buf_add(buf_t *b, const char *s, size_t n) {
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void buf_str(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_fmt(buf_t *b, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) die("vsnprintf failed");
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        buf_reserve(b, (size_t)n + 1);
    }
}

static void buf_free(buf_t *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* -------------------------------------------------------------------------- */
/* configuration and state                                                     */

static struct {
    unsigned hosts;
    double latency;
    int ports_mode;
    int port;
    unsigned items;
    const char *ready_file;
    char *auth_ok[MAX_USERS]; /* "Basic <base64(user:password)>" */
    char *user_names[MAX_USERS];
    int nusers;
} cfg = {.hosts = 1, .items = DEFAULT_ITEMS};

typedef struct {
    int fd; /* -1: free slot */
    uint32_t gen;
    uint32_t host;
    buf_t in;
    buf_t out;
    size_t out_off;
    int waiting;     /* a response is built and waits for its due time */
    int close_after; /* close once the response is written */
    int writing;     /* EPOLLOUT registered */
    int listener;    /* a listening socket; host = the host it serves (ports mode) */
} conn_t;

typedef struct {
    int fd;
    uint32_t gen;
    uint64_t due;
} pending_t;

static int epfd;
static int timer_fd;
static int signal_fd;
static conn_t *conns;  /* indexed by fd */
static size_t nconns;  /* size of conns */
static int *listeners; /* listener fds */
static unsigned nlisteners;
static uint64_t latency_ns;
static int timer_armed_for_head;

static pending_t *fifo;
static size_t fifo_cap, fifo_head, fifo_len;

/* enumeration contexts: position of the next item, or -1 when free */
static long *contexts;
static size_t ncontexts, contexts_cap;
static size_t *free_contexts;
static size_t nfree_contexts;
static size_t contexts_open;

static struct {
    uint64_t requests, connections, faults, unauthorized;
} stats;

static uint64_t message_counter;
static char date_header[64];
static time_t date_second;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *http_date(void) {
    time_t t = time(NULL);
    if (t != date_second) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date_header, sizeof date_header, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date_second = t;
    }
    return date_header;
}

/* -------------------------------------------------------------------------- */
/* base64 for the Basic credentials we accept                                  */

static char *basic_header(const char *userpass) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(userpass);
    size_t out_len = 6 + 4 * ((n + 2) / 3) + 1;
    char *out = malloc(out_len);
    if (!out) die("out of memory");
    char *o = out + 6;
    memcpy(out, "Basic ", 6);
    const unsigned char *s = (const unsigned char *)userpass;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = s[i] << 16;
        if (i + 1 < n) v |= s[i + 1] << 8;
        if (i + 2 < n) v |= s[i + 2];
        *o++ = tbl[(v >> 18) & 63];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? tbl[v & 63] : '=';
    }
    *o = 0;
    return out;
}

/* -------------------------------------------------------------------------- */
/* the request: a few WS-Man headers and body elements, by local name          */

typedef struct {
    const char *p;
    size_t n;
} span_t;

typedef struct {
    span_t action, message_id, resource_uri, context;
    span_t sel_name[MAX_SELECTORS], sel_value[MAX_SELECTORS];
    int nsel;
    long max_elements; /* -1: absent */
    long max_envelope; /* w:MaxEnvelopeSize; -1: absent */
    int optimize;
    int identify;
} soap_t;

static int span_is(span_t s, const char *lit) {
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static span_t trim(const char *a, const char *b) {
    while (a < b && (*a == ' ' || *a == '\t' || *a == '\r' || *a == '\n')) a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r' || b[-1] == '\n')) b--;
    span_t s = {a, (size_t)(b - a)};
    return s;
}

/* Value of attribute `name` (local name) inside a start tag [a, b). */
static span_t tag_attribute(const char *a, const char *b, const char *name) {
    span_t none = {NULL, 0};
    size_t n = strlen(name);
    const char *p = a;
    while (p < b) {
        while (p < b && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') p++;
        while (p < b && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
        const char *key = p;
        while (p < b && *p != '=' && *p != ' ' && *p != '>' && *p != '/') p++;
        const char *key_end = p;
        const char *colon = memchr(key, ':', (size_t)(key_end - key));
        const char *local = colon ? colon + 1 : key;
        if (p < b && *p == '=' && p + 1 < b && (p[1] == '"' || p[1] == '\'')) {
            char quote = p[1];
            const char *v = p + 2;
            const char *end = memchr(v, quote, (size_t)(b - v));
            if (!end) return none;
            if ((size_t)(key_end - local) == n && memcmp(local, name, n) == 0) {
                span_t s = {v, (size_t)(end - v)};
                return s;
            }
            p = end + 1;
        } else if (p < b) {
            p++;
        }
    }
    return none;
}

static int scan_soap(const char *body, size_t len, soap_t *out) {
    const char *p = body, *end = body + len;
    memset(out, 0, sizeof *out);
    out->max_elements = -1;
    out->max_envelope = -1;
    while ((p = memchr(p, '<', (size_t)(end - p))) != NULL) {
        if (end - p >= 4 && memcmp(p, "<!--", 4) == 0) {
            const char *c = memmem(p, (size_t)(end - p), "-->", 3);
            if (!c) return -1;
            p = c + 3;
            continue;
        }
        if (end - p >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
            const char *c = memmem(p, (size_t)(end - p), "]]>", 3);
            if (!c) return -1;
            p = c + 3;
            continue;
        }
        if (p + 1 < end && (p[1] == '/' || p[1] == '?' || p[1] == '!')) {
            p++;
            continue;
        }
        /* a start tag: its qualified name, then the end of the tag (quotes respected) */
        const char *name = p + 1, *q = name;
        while (q < end && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n' && *q != '>' &&
               *q != '/')
            q++;
        const char *name_end = q;
        char quote = 0;
        while (q < end && (quote || *q != '>')) {
            if (quote) {
                if (*q == quote) quote = 0;
            } else if (*q == '"' || *q == '\'') {
                quote = *q;
            }
            q++;
        }
        if (q >= end) return -1;
        int empty = q[-1] == '/';
        const char *colon = memchr(name, ':', (size_t)(name_end - name));
        span_t local = {colon ? colon + 1 : name, (size_t)(name_end - (colon ? colon + 1 : name))};
        span_t text = {q + 1, 0};
        if (!empty) {
            const char *lt = memchr(q + 1, '<', (size_t)(end - q - 1));
            if (!lt) return -1;
            text = trim(q + 1, lt);
        }
        if (span_is(local, "Action")) {
            out->action = text;
        } else if (span_is(local, "MessageID")) {
            out->message_id = text;
        } else if (span_is(local, "ResourceURI")) {
            out->resource_uri = text;
        } else if (span_is(local, "EnumerationContext")) {
            out->context = text;
        } else if (span_is(local, "MaxElements")) {
            out->max_elements = strtol(text.p, NULL, 10);
        } else if (span_is(local, "MaxEnvelopeSize")) {
            out->max_envelope = strtol(text.p, NULL, 10);
        } else if (span_is(local, "OptimizeEnumeration")) {
            out->optimize = 1;
        } else if (span_is(local, "Identify")) {
            out->identify = 1;
        } else if (span_is(local, "Selector") && out->nsel < MAX_SELECTORS) {
            out->sel_name[out->nsel] = tag_attribute(name, q, "Name");
            out->sel_value[out->nsel] = text;
            out->nsel++;
        }
        p = q + 1;
    }
    return 0;
}

/* -------------------------------------------------------------------------- */
/* replies                                                                     */

static void envelope_open(buf_t *b, const char *action, const soap_t *req) {
    uint64_t id = ++message_counter;
    buf_str(b, "<s:Envelope xml:lang=\"en-US\" ");
    buf_str(b, NS_ENVELOPE);
    buf_str(b, "><s:Header><a:Action>");
    buf_str(b, action);
    buf_fmt(b,
            "</a:Action><a:MessageID>uuid:%08X-%04X-4%03X-A%03X-%012llX</a:MessageID>"
            "<a:To>%s</a:To>",
            (unsigned)(id >> 32) ^ 0x5EEDF00Du, (unsigned)((id >> 16) & 0xFFFF),
            (unsigned)(id & 0xFFF), (unsigned)((id >> 12) & 0xFFF),
            (unsigned long long)(id * 2654435761ull & 0xFFFFFFFFFFFFull), ANONYMOUS);
    if (req->message_id.n) {
        buf_str(b, "<a:RelatesTo>");
        buf_add(b, req->message_id.p, req->message_id.n);
        buf_str(b, "</a:RelatesTo>");
    }
    buf_str(b, "</s:Header><s:Body>");
}

static void envelope_close(buf_t *b) { buf_str(b, "</s:Body></s:Envelope>"); }

/* A SOAP fault in the Windows shape (pypsrp-fault-*.xml): Code/Subcode,
 * Reason, w:FaultDetail and the Microsoft f:WSManFault with its code. */
static void fault(buf_t *b, const soap_t *req, const char *action, const char *code,
                  const char *subcode, const char *reason, const char *detail,
                  unsigned long wsman_code, const char *message) {
    envelope_open(b, action, req);
    buf_fmt(b,
            "<s:Fault><s:Code><s:Value>%s</s:Value><s:Subcode><s:Value>%s</s:Value>"
            "</s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en-US\">%s</s:Text></s:Reason>"
            "<s:Detail>",
            code, subcode, reason);
    if (detail)
        buf_fmt(b, "<w:FaultDetail>http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/%s"
                   "</w:FaultDetail>",
                detail);
    buf_fmt(b,
            "<f:WSManFault xmlns:f=\"http://schemas.microsoft.com/wbem/wsman/1/wsmanfault\" "
            "Code=\"%lu\" Machine=\"127.0.0.1\"><f:Message>%s</f:Message></f:WSManFault>"
            "</s:Detail></s:Fault>",
            wsman_code, message);
    envelope_close(b);
    stats.faults++;
}

static void identify_response(buf_t *b) {
    /* Windows answers Identify with an empty header (knifewin-identify-*.xml). */
    buf_str(b,
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Header/>"
            "<s:Body><wsmid:IdentifyResponse "
            "xmlns:wsmid=\"http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd\">"
            "<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
            "</wsmid:ProtocolVersion><wsmid:ProductVendor>Microsoft Corporation"
            "</wsmid:ProductVendor><wsmid:ProductVersion>OS: 10.0.20348 SP: 0.0 Stack: 3.0"
            "</wsmid:ProductVersion><wsmid:SecurityProfiles><wsmid:SecurityProfileName>"
            "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos"
            "</wsmid:SecurityProfileName></wsmid:SecurityProfiles></wsmid:IdentifyResponse>"
            "</s:Body></s:Envelope>");
}

static void instance_open(buf_t *b, const char *cls) {
    buf_fmt(b,
            "<p:%s xmlns:p=\"%s%s\" "
            "xmlns:cim=\"http://schemas.dmtf.org/wbem/wscim/1/common\" "
            "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
            "xsi:type=\"p:%s_Type\" xml:lang=\"en-US\">",
            cls, WMI_CIMV2, cls, cls);
}

static void operating_system(buf_t *b, unsigned host) {
    instance_open(b, "Win32_OperatingSystem");
    buf_fmt(b,
            "<p:BootDevice>\\Device\\HarddiskVolume1</p:BootDevice>"
            "<p:BuildNumber>20348</p:BuildNumber><p:BuildType>Multiprocessor Free</p:BuildType>"
            "<p:Caption>Microsoft Windows Server 2022 Datacenter</p:Caption>"
            "<p:CodeSet>1252</p:CodeSet><p:CountryCode>1</p:CountryCode>"
            "<p:CreationClassName>Win32_OperatingSystem</p:CreationClassName>"
            "<p:CSCreationClassName>Win32_ComputerSystem</p:CSCreationClassName>"
            "<p:CSDVersion xsi:nil=\"true\"/><p:CSName>HOST%05u</p:CSName>"
            "<p:CurrentTimeZone>0</p:CurrentTimeZone>"
            "<p:FreePhysicalMemory>%u</p:FreePhysicalMemory>"
            "<p:FreeVirtualMemory>%u</p:FreeVirtualMemory>"
            "<p:InstallDate><cim:Datetime>2023-11-02T09:30:00.000000Z</cim:Datetime>"
            "</p:InstallDate><p:LastBootUpTime><cim:Datetime>2025-12-11T06:02:45.000000Z"
            "</cim:Datetime></p:LastBootUpTime><p:LocalDateTime><cim:Datetime>"
            "2026-03-02T09:30:00.000000Z</cim:Datetime></p:LocalDateTime>"
            "<p:Locale>0409</p:Locale><p:Manufacturer>Microsoft Corporation</p:Manufacturer>"
            "<p:MUILanguages>en-US</p:MUILanguages>"
            "<p:Name>Microsoft Windows Server 2022 Datacenter|C:\\Windows|"
            "\\Device\\Harddisk0\\Partition2</p:Name>"
            "<p:NumberOfProcesses>100</p:NumberOfProcesses><p:NumberOfUsers>1</p:NumberOfUsers>"
            "<p:OSArchitecture>64-bit</p:OSArchitecture><p:OSLanguage>1033</p:OSLanguage>"
            "<p:OSType>18</p:OSType><p:PortableOperatingSystem>false"
            "</p:PortableOperatingSystem><p:Primary>true</p:Primary>"
            "<p:ProductType>3</p:ProductType><p:RegisteredUser>Windows User</p:RegisteredUser>"
            "<p:SerialNumber>00429-33164-%05u-AA546</p:SerialNumber>"
            "<p:ServicePackMajorVersion>0</p:ServicePackMajorVersion>"
            "<p:ServicePackMinorVersion>0</p:ServicePackMinorVersion><p:Status>OK</p:Status>"
            "<p:SystemDevice>\\Device\\HarddiskVolume2</p:SystemDevice>"
            "<p:SystemDirectory>C:\\Windows\\system32</p:SystemDirectory>"
            "<p:SystemDrive>C:</p:SystemDrive>"
            "<p:TotalVirtualMemorySize>10145980</p:TotalVirtualMemorySize>"
            "<p:TotalVisibleMemorySize>8179900</p:TotalVisibleMemorySize>"
            "<p:Version>10.0.20348</p:Version><p:WindowsDirectory>C:\\Windows"
            "</p:WindowsDirectory></p:Win32_OperatingSystem>",
            host, 5000000u + host % 100000u, 7000000u + host % 100000u, host % 100000u);
}

static void service(buf_t *b, unsigned host, span_t name) {
    instance_open(b, "Win32_Service");
    buf_str(b, "<p:AcceptPause>false</p:AcceptPause><p:AcceptStop>true</p:AcceptStop>"
               "<p:Caption>");
    buf_add(b, name.p, name.n);
    buf_str(b, "</p:Caption><p:CheckPoint>0</p:CheckPoint>"
               "<p:CreationClassName>Win32_Service</p:CreationClassName>"
               "<p:DelayedAutoStart>false</p:DelayedAutoStart>"
               "<p:Description>Windows Remote Management (WinRM) service implements the "
               "WS-Management protocol for remote management.</p:Description>"
               "<p:DesktopInteract>false</p:DesktopInteract><p:DisplayName>");
    buf_add(b, name.p, name.n);
    buf_str(b, "</p:DisplayName><p:ErrorControl>Normal</p:ErrorControl>"
               "<p:ExitCode>0</p:ExitCode><p:InstallDate xsi:nil=\"true\"/><p:Name>");
    buf_add(b, name.p, name.n);
    buf_fmt(b,
            "</p:Name><p:PathName>C:\\Windows\\System32\\svchost.exe -k NetworkService -p"
            "</p:PathName><p:ProcessId>%u</p:ProcessId>"
            "<p:ServiceSpecificExitCode>0</p:ServiceSpecificExitCode>"
            "<p:ServiceType>Share Process</p:ServiceType><p:Started>true</p:Started>"
            "<p:StartMode>Auto</p:StartMode><p:StartName>NT AUTHORITY\\NetworkService"
            "</p:StartName><p:State>Running</p:State><p:Status>OK</p:Status>"
            "<p:SystemCreationClassName>Win32_ComputerSystem</p:SystemCreationClassName>"
            "<p:SystemName>HOST%05u</p:SystemName><p:TagId>0</p:TagId>"
            "<p:WaitHint>0</p:WaitHint></p:Win32_Service>",
            1000u + host % 60000u, host);
}

/* One Win32_Process instance (the shape of winrb-enumerate-response-win32-process.xml). */
static void process(buf_t *b, unsigned host, unsigned long i) {
    instance_open(b, "Win32_Process");
    buf_fmt(b,
            "<p:Caption>svchost.exe</p:Caption>"
            "<p:CommandLine>C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Process%lu"
            "</p:CommandLine><p:CreationClassName>Win32_Process</p:CreationClassName>"
            "<p:CreationDate><cim:Datetime>2026-03-01T08:15:%02lu.102138Z</cim:Datetime>"
            "</p:CreationDate><p:CSCreationClassName>Win32_ComputerSystem"
            "</p:CSCreationClassName><p:CSName>HOST%05u</p:CSName>"
            "<p:Description>svchost.exe</p:Description>"
            "<p:ExecutablePath>C:\\Windows\\system32\\svchost.exe</p:ExecutablePath>"
            "<p:ExecutionState xsi:nil=\"true\"/><p:Handle>%lu</p:Handle>"
            "<p:HandleCount>%lu</p:HandleCount><p:InstallDate xsi:nil=\"true\"/>"
            "<p:KernelModeTime>%lu</p:KernelModeTime>"
            "<p:MaximumWorkingSetSize>1380</p:MaximumWorkingSetSize>"
            "<p:MinimumWorkingSetSize>200</p:MinimumWorkingSetSize><p:Name>svchost.exe</p:Name>"
            "<p:OSCreationClassName>Win32_OperatingSystem</p:OSCreationClassName>"
            "<p:OSName>Microsoft Windows Server 2022 Datacenter|C:\\Windows|"
            "\\Device\\Harddisk0\\Partition2</p:OSName>"
            "<p:OtherOperationCount>%lu</p:OtherOperationCount>"
            "<p:OtherTransferCount>%lu</p:OtherTransferCount><p:PageFaults>%lu</p:PageFaults>"
            "<p:PageFileUsage>2860</p:PageFileUsage><p:ParentProcessId>712</p:ParentProcessId>"
            "<p:PeakPageFileUsage>3120</p:PeakPageFileUsage>"
            "<p:PeakVirtualSize>2203457536</p:PeakVirtualSize>"
            "<p:PeakWorkingSetSize>9876</p:PeakWorkingSetSize><p:Priority>8</p:Priority>"
            "<p:PrivatePageCount>2928640</p:PrivatePageCount><p:ProcessId>%lu</p:ProcessId>"
            "<p:QuotaNonPagedPoolUsage>14</p:QuotaNonPagedPoolUsage>"
            "<p:QuotaPagedPoolUsage>121</p:QuotaPagedPoolUsage>"
            "<p:QuotaPeakNonPagedPoolUsage>16</p:QuotaPeakNonPagedPoolUsage>"
            "<p:QuotaPeakPagedPoolUsage>126</p:QuotaPeakPagedPoolUsage>"
            "<p:ReadOperationCount>%lu</p:ReadOperationCount>"
            "<p:ReadTransferCount>%lu</p:ReadTransferCount><p:SessionId>0</p:SessionId>"
            "<p:Status xsi:nil=\"true\"/><p:TerminationDate xsi:nil=\"true\"/>"
            "<p:ThreadCount>%lu</p:ThreadCount><p:UserModeTime>%lu</p:UserModeTime>"
            "<p:VirtualSize>2203457536</p:VirtualSize><p:WindowsVersion>10.0.20348"
            "</p:WindowsVersion><p:WorkingSetSize>10113024</p:WorkingSetSize>"
            "<p:WriteOperationCount>%lu</p:WriteOperationCount>"
            "<p:WriteTransferCount>%lu</p:WriteTransferCount></p:Win32_Process>",
            i, i % 60, host, 4 * i + 4, 100 + i % 900, 156250 * (i % 97), i % 5000,
            (i % 5000) * 124, 500 + i % 20000, 4 * i + 4, i % 3000, (i % 3000) * 512,
            1 + i % 40, 312500 * (i % 53), i % 2000, (i % 2000) * 256);
}

static long context_new(void) {
    size_t id;
    if (nfree_contexts) {
        id = free_contexts[--nfree_contexts];
    } else {
        if (ncontexts == contexts_cap) {
            contexts_cap = contexts_cap ? contexts_cap * 2 : 256;
            contexts = realloc(contexts, contexts_cap * sizeof *contexts);
            free_contexts = realloc(free_contexts, contexts_cap * sizeof *free_contexts);
            if (!contexts || !free_contexts) die("out of memory");
        }
        id = ncontexts++;
    }
    contexts[id] = 0;
    contexts_open++;
    return (long)id;
}

static void context_free(long id) {
    if (id < 0 || (size_t)id >= ncontexts || contexts[id] < 0) return;
    contexts[id] = -1;
    free_contexts[nfree_contexts++] = (size_t)id;
    contexts_open--;
}

/* "uuid:00000000-0000-4000-8000-0000000000NN" -> NN, or -1 */
static long context_lookup(span_t s) {
    static const char prefix[] = "uuid:C0DE0000-0000-4000-8000-";
    size_t n = sizeof prefix - 1;
    if (s.n != n + 12 || memcmp(s.p, prefix, n) != 0) return -1;
    long id = 0;
    for (size_t i = n; i < s.n; i++) {
        char c = s.p[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0) return -1;
        id = id * 16 + v;
    }
    if ((size_t)id >= ncontexts || contexts[id] < 0) return -1;
    return id;
}

static void context_text(buf_t *b, long id) {
    buf_fmt(b, "uuid:C0DE0000-0000-4000-8000-%012lX", (unsigned long)id);
}

/* Room left for what follows the items (closing tags, EndOfSequence). */
#define ENVELOPE_TAIL 256
/* When the request names no w:MaxEnvelopeSize: WinRM's default (512000 bytes). */
#define DEFAULT_MAX_ENVELOPE 512000

/* Items [pos, pos + max) into b, as many as fit in the envelope (b holds the
 * whole envelope so far); returns the new position, or (unsigned long)-1 when
 * not even one item fits (the caller answers w:EncodingLimit). DSP0226 8.2.3:
 * a batch may hold fewer items than MaxElements; WinRM sends what fits in
 * MaxEnvelopeSize. */
static unsigned long items(buf_t *b, unsigned host, unsigned long pos, long max,
                           long max_envelope) {
    unsigned long stop = pos + (unsigned long)(max > 0 ? max : 1);
    size_t limit = (size_t)(max_envelope > 0 ? max_envelope : DEFAULT_MAX_ENVELOPE);
    unsigned long first = pos;
    if (stop > cfg.items) stop = cfg.items;
    for (; pos < stop; pos++) {
        size_t before = b->len;
        process(b, host, pos);
        if (b->len + ENVELOPE_TAIL > limit) {
            b->len = before;
            return pos == first ? (unsigned long)-1 : pos;
        }
    }
    return pos;
}

static void encoding_limit(buf_t *b, const soap_t *req) {
    b->len = 0;
    fault(b, req, A_FAULT_WSMAN, "s:Sender", "w:EncodingLimit",
          "The WS-Management service cannot process the request because the response "
          "would exceed the maximum envelope size. ",
          "MaxEnvelopeSize", 2150858824ul,
          "The response that the WS-Management service computed exceeds the maximum "
          "envelope size in the request. ");
}

static int is_class(span_t uri, const char *cls) {
    size_t base = sizeof WMI_CIMV2 - 1, n = strlen(cls);
    return uri.n == base + n && memcmp(uri.p, WMI_CIMV2, base) == 0 &&
           memcmp(uri.p + base, cls, n) == 0;
}

static void not_found(buf_t *b, const soap_t *req) {
    fault(b, req, A_FAULT_WSMAN, "s:Sender", "w:DestinationUnreachable",
          "The WS-Management service cannot process the request. The resource URI is not "
          "valid or the resource does not exist. ",
          "InvalidResourceURI", 2150858752ul,
          "The WS-Management service cannot process the request. The class is not served by "
          "this benchmark server. ");
}

/* Build the SOAP reply for one request body; returns the HTTP status. */
static int respond(buf_t *b, const soap_t *req, unsigned host) {
    if (req->identify && req->action.n == 0) {
        identify_response(b);
        return 200;
    }
    if (span_is(req->action, A_GET)) {
        if (is_class(req->resource_uri, "Win32_OperatingSystem")) {
            envelope_open(b, "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse", req);
            operating_system(b, host);
            envelope_close(b);
            return 200;
        }
        if (is_class(req->resource_uri, "Win32_Service")) {
            for (int i = 0; i < req->nsel; i++) {
                if (span_is(req->sel_name[i], "Name") && req->sel_value[i].n) {
                    envelope_open(b, "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse",
                                  req);
                    service(b, host, req->sel_value[i]);
                    envelope_close(b);
                    return 200;
                }
            }
            fault(b, req, A_FAULT_WSMAN, "s:Sender", "w:InvalidSelectors",
                  "The WS-Management service cannot process the request because the request "
                  "contained invalid selectors for the resource. ",
                  "InsufficientSelectors", 2150858843ul,
                  "The WS-Management service cannot process the request. The selector Name is "
                  "required. ");
            return 500;
        }
        not_found(b, req);
        return 500;
    }
    if (span_is(req->action, A_ENUMERATE)) {
        if (!is_class(req->resource_uri, "Win32_Process")) {
            not_found(b, req);
            return 500;
        }
        long id = context_new();
        envelope_open(b, "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse",
                      req);
        buf_str(b, "<n:EnumerateResponse><n:EnumerationContext>");
        size_t ctx_at = b->len;
        context_text(b, id);
        buf_str(b, "</n:EnumerationContext>");
        if (req->optimize) {
            /* DSP0226 8.2.3: optimized enumeration; MaxElements defaults to 1. */
            buf_str(b, "<w:Items>");
            unsigned long pos = items(b, host, 0, req->max_elements, req->max_envelope);
            if (pos == (unsigned long)-1) {
                context_free(id);
                encoding_limit(b, req);
                return 500;
            }
            buf_str(b, "</w:Items>");
            if (pos >= cfg.items) {
                /* Done in one message: Windows sends an empty context and
                 * w:EndOfSequence (pypsrp-enumerate-response-empty-endofsequence.xml). */
                size_t ctx_len = strlen("uuid:C0DE0000-0000-4000-8000-") + 12;
                memmove(b->p + ctx_at, b->p + ctx_at + ctx_len, b->len - ctx_at - ctx_len);
                b->len -= ctx_len;
                buf_str(b, "<w:EndOfSequence/>");
                context_free(id);
            } else {
                contexts[id] = (long)pos;
            }
        }
        buf_str(b, "</n:EnumerateResponse>");
        envelope_close(b);
        return 200;
    }
    if (span_is(req->action, A_PULL)) {
        long id = context_lookup(req->context);
        if (id < 0) {
            fault(b, req, A_FAULT_WSMAN, "s:Receiver", "n:InvalidEnumerationContext",
                  "The WS-Management service cannot process the request because the "
                  "enumeration context supplied in the message is not valid. ",
                  NULL, 2150858779ul,
                  "The enumeration context supplied in the message is not valid. ");
            return 500;
        }
        envelope_open(b, "http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse", req);
        buf_str(b, "<n:PullResponse>");
        size_t ctx_at = b->len;
        buf_str(b, "<n:EnumerationContext>");
        context_text(b, id);
        buf_str(b, "</n:EnumerationContext><n:Items>");
        unsigned long pos =
            items(b, host, (unsigned long)contexts[id], req->max_elements, req->max_envelope);
        if (pos == (unsigned long)-1) {
            encoding_limit(b, req); /* the context stays: a bigger envelope may follow */
            return 500;
        }
        buf_str(b, "</n:Items>");
        if (pos >= cfg.items) {
            /* The last PullResponse carries no context (winrb-pull-response-*.xml). */
            size_t ctx_len = strlen("<n:EnumerationContext></n:EnumerationContext>") +
                             strlen("uuid:C0DE0000-0000-4000-8000-") + 12;
            memmove(b->p + ctx_at, b->p + ctx_at + ctx_len, b->len - ctx_at - ctx_len);
            b->len -= ctx_len;
            buf_str(b, "<n:EndOfSequence/>");
            context_free(id);
        } else {
            contexts[id] = (long)pos;
        }
        buf_str(b, "</n:PullResponse>");
        envelope_close(b);
        return 200;
    }
    if (span_is(req->action, A_RELEASE)) {
        long id = context_lookup(req->context);
        if (id >= 0) context_free(id);
        envelope_open(b, "http://schemas.xmlsoap.org/ws/2004/09/enumeration/ReleaseResponse", req);
        envelope_close(b);
        return 200;
    }
    fault(b, req, A_FAULT_ADDRESSING, "s:Sender", "a:ActionNotSupported",
          "The action is not supported by the service. ", NULL, 2150858753ul,
          "The WS-Management service cannot process the request. The WS-Addressing action "
          "URI is invalid or not supported by this benchmark server. ");
    return 500;
}

/* -------------------------------------------------------------------------- */
/* connections                                                                 */

static void epoll_set(int fd, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(epfd, op, fd, &ev) < 0 && op != EPOLL_CTL_DEL) die("epoll_ctl: %s", strerror(errno));
}

static void conn_close(conn_t *c) {
    if (c->fd < 0) return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->gen++;
    c->in.len = 0;
    c->out.len = 0;
    c->out_off = 0;
    c->waiting = c->close_after = c->writing = 0;
    /* keep the buffers' memory for the next connection on this fd, up to 256 KB */
    if (c->in.cap > (256u << 10)) buf_free(&c->in);
    if (c->out.cap > (256u << 10)) buf_free(&c->out);
}

static void handle_input(conn_t *c);

/* Write what is queued; returns 0 when the connection is still open. */
static int flush_output(conn_t *c) {
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!c->writing) {
                    epoll_set(c->fd, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
                    c->writing = 1;
                }
                return 0;
            }
            conn_close(c);
            return -1;
        }
        c->out_off += (size_t)n;
    }
    c->out.len = 0;
    c->out_off = 0;
    if (c->writing) {
        epoll_set(c->fd, EPOLLIN, EPOLL_CTL_MOD);
        c->writing = 0;
    }
    if (c->close_after) {
        conn_close(c);
        return -1;
    }
    /* the next request may already be buffered */
    if (c->in.len) handle_input(c);
    return 0;
}

static void arm_timer(void) {
    if (!fifo_len) return;
    uint64_t due = fifo[fifo_head].due;
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(due / 1000000000ull);
    its.it_value.tv_nsec = (long)(due % 1000000000ull);
    if (timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
        die("timerfd_settime: %s", strerror(errno));
    timer_armed_for_head = 1;
}

static void enqueue(conn_t *c) {
    if (fifo_len == fifo_cap) {
        size_t cap = fifo_cap ? fifo_cap * 2 : 1024;
        pending_t *n = malloc(cap * sizeof *n);
        if (!n) die("out of memory");
        for (size_t i = 0; i < fifo_len; i++) n[i] = fifo[(fifo_head + i) % fifo_cap];
        free(fifo);
        fifo = n;
        fifo_cap = cap;
        fifo_head = 0;
    }
    pending_t *e = &fifo[(fifo_head + fifo_len) % fifo_cap];
    e->fd = c->fd;
    e->gen = c->gen;
    e->due = now_ns() + latency_ns;
    fifo_len++;
    c->waiting = 1;
    if (fifo_len == 1) arm_timer();
}

static void deliver_due(void) {
    uint64_t expirations;
    if (read(timer_fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) {
        die("timerfd read: %s", strerror(errno));
    }
    uint64_t now = now_ns();
    while (fifo_len && fifo[fifo_head].due <= now) {
        pending_t e = fifo[fifo_head];
        fifo_head = (fifo_head + 1) % fifo_cap;
        fifo_len--;
        conn_t *c = &conns[e.fd];
        if (c->fd == e.fd && c->gen == e.gen && c->waiting) {
            c->waiting = 0;
            flush_output(c);
        }
    }
    arm_timer();
}

static const char *header_value(const char *head, const char *head_end, const char *name,
                                size_t *len) {
    size_t n = strlen(name);
    const char *p = memchr(head, '\n', (size_t)(head_end - head)); /* skip the request line */
    while (p && p < head_end) {
        p++;
        const char *eol = memchr(p, '\n', (size_t)(head_end - p));
        if (!eol) eol = head_end;
        if ((size_t)(eol - p) > n && p[n] == ':' && strncasecmp(p, name, n) == 0) {
            span_t v = trim(p + n + 1, eol);
            *len = v.n;
            return v.p;
        }
        p = eol;
    }
    return NULL;
}

static void http_reply(conn_t *c, int status, const char *extra, const char *body, size_t len) {
    const char *reason = status == 200   ? "OK"
                         : status == 401 ? "Unauthorized"
                         : status == 500 ? "Internal Server Error"
                         : status == 404 ? "Not Found"
                         : status == 405 ? "Method Not Allowed"
                         : status == 413 ? "Payload Too Large"
                         : status == 501 ? "Not Implemented"
                                         : "Bad Request";
    buf_fmt(&c->out,
            "HTTP/1.1 %d %s\r\nServer: Microsoft-HTTPAPI/2.0\r\nDate: %s\r\n%s"
            "Content-Length: %zu\r\n%s\r\n",
            status, reason, http_date(), extra ? extra : "", len,
            c->close_after ? "Connection: close\r\n" : "");
    buf_add(&c->out, body, len);
}

static buf_t scratch;

/* Parse and answer the buffered request, if it is complete. */
static void handle_input(conn_t *c) {
    if (c->waiting || c->out.len) return; /* one request at a time, in order */
    char *head = c->in.p;
    char *head_end = c->in.len ? memmem(head, c->in.len, "\r\n\r\n", 4) : NULL;
    if (!head_end) {
        if (c->in.len > 65536) {
            c->close_after = 1;
            http_reply(c, 400, NULL, "", 0);
            flush_output(c);
        }
        return;
    }
    size_t head_len = (size_t)(head_end - head) + 4;
    size_t vlen = 0;
    const char *v;
    if (header_value(head, head_end, "Transfer-Encoding", &vlen)) {
        c->close_after = 1;
        http_reply(c, 501, NULL, "", 0);
        flush_output(c);
        return;
    }
    size_t body_len = 0;
    if ((v = header_value(head, head_end, "Content-Length", &vlen)) != NULL)
        body_len = strtoul(v, NULL, 10);
    if (head_len + body_len > MAX_REQUEST) {
        c->close_after = 1;
        http_reply(c, 413, NULL, "", 0);
        flush_output(c);
        return;
    }
    if (c->in.len < head_len + body_len) return; /* wait for the rest */
    stats.requests++;

    const char *line_end = memchr(head, '\n', (size_t)(head_end - head));
    if (!line_end) line_end = head_end;
    int http10 = memmem(head, (size_t)(line_end - head), "HTTP/1.0", 8) != NULL;
    v = header_value(head, head_end, "Connection", &vlen);
    if (v && vlen == 5 && strncasecmp(v, "close", 5) == 0) c->close_after = 1;
    if (http10 && !(v && vlen == 10 && strncasecmp(v, "keep-alive", 10) == 0)) c->close_after = 1;

    int status;
    const char *extra = "Content-Type: application/soap+xml;charset=UTF-8\r\n";
    scratch.len = 0;
    if (strncmp(head, "POST ", 5) != 0) {
        status = 405;
        extra = "Allow: POST\r\n";
    } else if (strncmp(head + 5, "/wsman ", 7) != 0 && strncmp(head + 5, "/wsman/ ", 8) != 0) {
        status = 404;
        extra = NULL;
    } else {
        int authorised = 0;
        v = header_value(head, head_end, "Authorization", &vlen);
        for (int i = 0; v && i < cfg.nusers && !authorised; i++) {
            size_t n = strlen(cfg.auth_ok[i]);
            authorised = vlen == n && memcmp(v, cfg.auth_ok[i], n) == 0;
        }
        if (!authorised) {
            status = 401;
            extra = "WWW-Authenticate: Basic realm=\"WSMAN\"\r\n";
            stats.unauthorized++;
        } else {
            soap_t req;
            if (scan_soap(head + head_len, body_len, &req) < 0) {
                status = 400;
                extra = NULL;
            } else {
                status = respond(&scratch, &req, c->host);
            }
        }
    }
    http_reply(c, status, extra, scratch.p ? scratch.p : "", scratch.len);
    /* drop the request from the input buffer */
    size_t used = head_len + body_len;
    memmove(c->in.p, c->in.p + used, c->in.len - used);
    c->in.len -= used;
    if (latency_ns) {
        enqueue(c); /* every answer, faults too, takes the simulated latency */
    } else {
        flush_output(c);
    }
}

static void handle_readable(conn_t *c) {
    for (;;) {
        buf_reserve(&c->in, READ_CHUNK);
        size_t room = c->in.cap - c->in.len;
        ssize_t n = recv(c->fd, c->in.p + c->in.len, room, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            if ((size_t)n == room) continue; /* there may be more */
            break;
        }
        if (n == 0) {
            conn_close(c);
            return;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        conn_close(c);
        return;
    }
    handle_input(c);
}

/* 127.0.0.0/8 address -> host index, as aiowsman.testing numbers them:
 * the n-th usable address skipping .0 and .255 (n = 0 is 127.0.0.1). */
static uint32_t host_of_address(const struct sockaddr_in *sa) {
    uint32_t ip = ntohl(sa->sin_addr.s_addr);
    if ((ip >> 24) != 127) return 0;
    uint32_t v = ip & 0xFFFFFFu;
    uint32_t block = v >> 8, last = v & 0xFF;
    if (last == 0 || last == 255) return 0;
    uint32_t n = block * 254 + (last - 1);
    return n < cfg.hosts ? n : 0;
}

static void address_of_host(unsigned n, char *out, size_t len) {
    uint32_t v = (n / 254) * 256 + n % 254 + 1;
    snprintf(out, len, "127.%u.%u.%u", (v >> 16) & 255, (v >> 8) & 255, v & 255);
}

static void accept_all(int lfd, uint32_t host) {
    for (;;) {
        struct sockaddr_in local;
        socklen_t slen = sizeof local;
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) continue;
            if (errno == EMFILE || errno == ENFILE)
                fprintf(stderr, "wsman-bench-server: out of file descriptors\n");
            return;
        }
        if ((size_t)fd >= nconns) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_t *c = &conns[fd];
        c->fd = fd;
        c->host = host;
        if (!cfg.ports_mode && getsockname(fd, (struct sockaddr *)&local, &slen) == 0)
            c->host = host_of_address(&local);
        stats.connections++;
        epoll_set(fd, EPOLLIN, EPOLL_CTL_ADD);
    }
}

/* -------------------------------------------------------------------------- */
/* set-up                                                                      */

static int listen_on(uint32_t addr, int port, int bind_to_lo) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind_to_lo && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) < 0) {
        close(fd);
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(addr);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind port %d: %s", port, strerror(errno));
    if (listen(fd, 4096) < 0) die("listen: %s", strerror(errno));
    return fd;
}

static int bound_port(int fd) {
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0) die("getsockname: %s", strerror(errno));
    return ntohs(sa.sin_port);
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void write_ready(int port, double start_seconds) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", cfg.ready_file);
    FILE *f = fopen(tmp, "w");
    if (!f) die("cannot write %s: %s", tmp, strerror(errno));
    fputs("{\"endpoints\": [", f);
    char addr[32];
    for (unsigned i = 0; i < cfg.hosts; i++) {
        if (cfg.ports_mode) {
            fprintf(f, "%s\"http://127.0.0.1:%d/wsman\"", i ? ", " : "", bound_port(listeners[i]));
        } else {
            address_of_host(i, addr, sizeof addr);
            fprintf(f, "%s\"http://%s:%d/wsman\"", i ? ", " : "", addr, port);
        }
    }
    fputs("], \"users\": [", f);
    for (int i = 0; i < cfg.nusers; i++) {
        if (i) fputs(", ", f);
        json_string(f, cfg.user_names[i]);
    }
    fprintf(f,
            "], \"auth\": [\"basic\"], \"tls\": false, \"ca_file\": null, \"pid\": %d, "
            "\"start_seconds\": %.3f, \"server\": \"native\", \"bulk_uri\": \"%sWin32_Process\", "
            "\"bulk_items\": %u}\n",
            (int)getpid(), start_seconds, WMI_CIMV2, cfg.items);
    if (fclose(f) != 0) die("cannot write %s", tmp);
    if (rename(tmp, cfg.ready_file) < 0) die("rename %s: %s", tmp, strerror(errno));
}

static void usage(FILE *f) {
    fputs("usage: wsman-bench-server [--hosts N] [--latency SECONDS] "
          "[--address-mode ports|addresses] [--port P] [--users USER:PASSWORD]... "
          "[--bulk-class N] [--ready-file FILE] [--prewarm CLASSES]\n"
          "  --hosts N          simulated hosts (default 1)\n"
          "  --latency S        seconds added to every answer, without blocking (default 0)\n"
          "  --address-mode M   ports: one listener per host on 127.0.0.1 (default);\n"
          "                     addresses: every host at its own 127.x.y.z on one port\n"
          "  --port P           first port (ports mode) or the shared port (default: any free)\n"
          "  --users U:P        accepted Basic credentials (repeatable; default user:pass)\n"
          "  --bulk-class N     Win32_Process instances to enumerate (default 1000)\n"
          "  --ready-file F     write the endpoints JSON here once listening (else stdout)\n"
          "  --prewarm CLASSES  accepted for compatibility with aiowsman.testing; no effect\n",
          f);
}

static void parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!val) die("option %s needs a value (see --help)", a);
        if (!strcmp(a, "--hosts")) {
            long n = strtol(val, NULL, 10);
            if (n < 1 || n > 8000000) die("--hosts must be 1..8000000");
            cfg.hosts = (unsigned)n;
        } else if (!strcmp(a, "--latency")) {
            cfg.latency = strtod(val, NULL);
            if (cfg.latency < 0 || cfg.latency > 3600) die("--latency must be 0..3600 seconds");
        } else if (!strcmp(a, "--address-mode")) {
            if (!strcmp(val, "ports")) cfg.ports_mode = 1;
            else if (!strcmp(val, "addresses")) cfg.ports_mode = 0;
            else die("--address-mode must be ports or addresses");
        } else if (!strcmp(a, "--port")) {
            cfg.port = atoi(val);
            if (cfg.port < 0 || cfg.port > 65535) die("--port must be 0..65535");
        } else if (!strcmp(a, "--users")) {
            if (!strchr(val, ':')) die("--users wants USER:PASSWORD");
            if (cfg.nusers == MAX_USERS) die("at most %d --users", MAX_USERS);
            cfg.auth_ok[cfg.nusers] = basic_header(val);
            cfg.user_names[cfg.nusers] = strndup(val, (size_t)(strchr(val, ':') - val));
            cfg.nusers++;
        } else if (!strcmp(a, "--bulk-class")) {
            long n = strtol(val, NULL, 10);
            if (n < 0 || n > 100000000) die("--bulk-class must be 0..100000000");
            cfg.items = (unsigned)n;
        } else if (!strcmp(a, "--ready-file")) {
            cfg.ready_file = val;
        } else if (!strcmp(a, "--prewarm")) {
            /* nothing to warm: every reply is built when asked for */
        } else {
            die("unknown option %s (see --help)", a);
        }
        i++;
    }
    if (!cfg.nusers) {
        cfg.auth_ok[0] = basic_header("user:pass");
        cfg.user_names[0] = strdup("user");
        cfg.nusers = 1;
    }
}

int main(int argc, char **argv) {
    cfg.ports_mode = 1;
    parse_args(argc, argv);
    uint64_t started = now_ns();
    latency_ns = (uint64_t)(cfg.latency * 1e9 + 0.5);

    /* descriptors: listeners (ports mode) plus connections */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    nconns = rl.rlim_cur > 1048576 ? 1048576 : (size_t)rl.rlim_cur;
    if (cfg.ports_mode && cfg.hosts + 64 > nconns)
        die("%u hosts in ports mode need more than %zu descriptors: use --address-mode addresses",
            cfg.hosts, nconns);
    conns = calloc(nconns, sizeof *conns);
    if (!conns) die("out of memory");
    for (size_t i = 0; i < nconns; i++) conns[i].fd = -1;

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1: %s", strerror(errno));
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd < 0) die("timerfd_create: %s", strerror(errno));
    epoll_set(timer_fd, EPOLLIN, EPOLL_CTL_ADD);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd < 0) die("signalfd: %s", strerror(errno));
    epoll_set(signal_fd, EPOLLIN, EPOLL_CTL_ADD);

    int shared_port = 0;
    if (cfg.ports_mode) {
        nlisteners = cfg.hosts;
        listeners = calloc(nlisteners, sizeof *listeners);
        if (!listeners) die("out of memory");
        for (unsigned i = 0; i < cfg.hosts; i++) {
            listeners[i] = listen_on(INADDR_LOOPBACK, cfg.port ? cfg.port + (int)i : 0, 0);
            conns[listeners[i]].host = i;
        }
    } else {
        /* Every 127.x.y.z on one port: INADDR_ANY restricted to the loopback
         * device, so the socket is unreachable from any other interface. */
        int fd = listen_on(INADDR_ANY, cfg.port, 1);
        if (fd < 0) die("SO_BINDTODEVICE lo refused (%s): use --address-mode ports", strerror(errno));
        nlisteners = 1;
        listeners = calloc(1, sizeof *listeners);
        if (!listeners) die("out of memory");
        listeners[0] = fd;
        shared_port = bound_port(fd);
    }
    for (unsigned i = 0; i < nlisteners; i++) {
        int fd = listeners[i];
        if ((size_t)fd >= nconns) die("descriptor %d beyond the limit", fd);
        conns[fd].listener = 1;
        epoll_set(fd, EPOLLIN, EPOLL_CTL_ADD);
    }
    double start_seconds = (double)(now_ns() - started) / 1e9;
    if (cfg.ready_file) {
        write_ready(shared_port, start_seconds);
        printf("{\"ready_file\": \"%s\", \"hosts\": %u}\n", cfg.ready_file, cfg.hosts);
    } else {
        printf("{\"hosts\": %u, \"port\": %d}\n", cfg.hosts, shared_port);
    }
    fflush(stdout);

    struct epoll_event events[512];
    int running = 1;
    while (running) {
        int n = epoll_wait(epfd, events, 512, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == timer_fd) {
                deliver_due();
            } else if (fd == signal_fd) {
                running = 0;
            } else if (conns[fd].listener) {
                accept_all(fd, conns[fd].host);
            } else {
                conn_t *c = &conns[fd];
                if (c->fd != fd) continue;
                if (events[i].events & (EPOLLERR | EPOLLHUP)) {
                    conn_close(c);
                    continue;
                }
                if (events[i].events & EPOLLOUT) {
                    if (flush_output(c) < 0) continue;
                }
                if (events[i].events & EPOLLIN) handle_readable(c);
            }
        }
    }
    fprintf(stderr,
            "wsman-bench-server: %llu requests, %llu connections, %llu faults, "
            "%llu unauthorised, %zu enumeration contexts open\n",
            (unsigned long long)stats.requests, (unsigned long long)stats.connections,
            (unsigned long long)stats.faults, (unsigned long long)stats.unauthorized,
            contexts_open);
    return 0;
}
