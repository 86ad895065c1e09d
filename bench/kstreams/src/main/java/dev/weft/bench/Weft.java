package dev.weft.bench;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The small pieces of weft's envelope rules that the peer must reproduce bit for bit, each with
 * the Rust code it mirrors:
 *
 * <ul>
 *   <li>{@link #derivedEventId}: {@code EventMetadata::caused} in crates/weft-contracts/src/envelope.rs
 *       (UUID v5 in the OID namespace over {@code "<cause event id>/<output schema full name>/<index>"});
 *   <li>{@link #canonicalUuid}: apache-avro decodes a {@code uuid} string with {@code Uuid::parse_str}
 *       and weft's typed events print it back hyphenated and lowercase;
 *   <li>{@link #rustTrim}: Rust's {@code str::trim} (Unicode White_Space), used for the recipient;
 *   <li>{@link #normalizeDecimal}: {@code Decimal4::from_avro_bytes} / {@code to_avro_bytes} in
 *       crates/weft-contracts/src/decimal.rs (precision 18, minimal two's complement);
 *   <li>{@link #traceparent}: {@code TraceParent} in crates/weft-runtime/src/trace.rs.
 * </ul>
 *
 * Instances are not thread-safe (they keep a SHA-1 digest); make one per processor.
 */
final class Weft {
    /** {@code uuid::Uuid::NAMESPACE_OID}, 6ba7b812-9dad-11d1-80b4-00c04fd430c8. */
    private static final byte[] NAMESPACE_OID = {
        (byte) 0x6b, (byte) 0xa7, (byte) 0xb8, (byte) 0x12, (byte) 0x9d, (byte) 0xad, (byte) 0x11, (byte) 0xd1,
        (byte) 0x80, (byte) 0xb4, (byte) 0x00, (byte) 0xc0, (byte) 0x4f, (byte) 0xd4, (byte) 0x30, (byte) 0xc8,
    };

    /** The largest magnitude of a decimal(18,4) unscaled value: 18 nines. */
    static final long MAX_UNITS = 999_999_999_999_999_999L;

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private final MessageDigest sha1;

    Weft() {
        try {
            sha1 = MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-1", e);
        }
    }

    /**
     * The event id weft gives output {@code index} of contract {@code schemaFullName} caused by the
     * event {@code causeEventId}: {@code Uuid::new_v5(&Uuid::NAMESPACE_OID, "<cause>/<schema>/<index>")}.
     */
    String derivedEventId(String causeEventId, String schemaFullName, int index) {
        sha1.reset();
        sha1.update(NAMESPACE_OID);
        sha1.update((causeEventId + "/" + schemaFullName + "/" + Integer.toUnsignedString(index))
                .getBytes(StandardCharsets.UTF_8));
        byte[] h = sha1.digest();
        h[6] = (byte) ((h[6] & 0x0f) | 0x50); // version 5
        h[8] = (byte) ((h[8] & 0x3f) | 0x80); // RFC 4122 variant
        return hyphenated(h);
    }

    static String hyphenated(byte[] b) {
        char[] out = new char[36];
        int o = 0;
        for (int i = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10) {
                out[o++] = '-';
            }
            out[o++] = HEX[(b[i] >> 4) & 0xf];
            out[o++] = HEX[b[i] & 0xf];
        }
        return new String(out);
    }

    /**
     * A UUID string as weft prints it after decoding (hyphenated, lowercase), accepting what
     * {@code Uuid::parse_str} accepts: simple (32 hex digits), hyphenated, braced or URN; any case.
     * Null when it is not a UUID (weft would refuse the record as undecodable).
     */
    static String canonicalUuid(CharSequence value) {
        String s = value.toString();
        if (s.length() == 36 && isLowerHyphenated(s)) {
            return s; // the common case: nothing to do
        }
        if (s.length() == 45 && s.regionMatches(true, 0, "urn:uuid:", 0, 9)) {
            s = s.substring(9);
        } else if (s.length() == 38 && s.charAt(0) == '{' && s.charAt(37) == '}') {
            s = s.substring(1, 37);
        }
        String hex;
        if (s.length() == 36) {
            if (s.charAt(8) != '-' || s.charAt(13) != '-' || s.charAt(18) != '-' || s.charAt(23) != '-') {
                return null;
            }
            hex = s.substring(0, 8) + s.substring(9, 13) + s.substring(14, 18) + s.substring(19, 23)
                    + s.substring(24);
        } else if (s.length() == 32) {
            hex = s;
        } else {
            return null;
        }
        byte[] b = new byte[16];
        for (int i = 0; i < 16; i++) {
            char a = hex.charAt(2 * i);
            char c = hex.charAt(2 * i + 1);
            int hi = a < 128 ? Character.digit(a, 16) : -1;
            int lo = c < 128 ? Character.digit(c, 16) : -1;
            if (hi < 0 || lo < 0) {
                return null;
            }
            b[i] = (byte) ((hi << 4) | lo);
        }
        return hyphenated(b);
    }

    private static boolean isLowerHyphenated(String s) {
        for (int i = 0; i < 36; i++) {
            char c = s.charAt(i);
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                if (c != '-') {
                    return false;
                }
            } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                return false;
            }
        }
        return true;
    }

    /** Rust's {@code char::is_whitespace}: the Unicode White_Space property. */
    static boolean isRustWhitespace(int c) {
        return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f
                || c == 0x205f || c == 0x3000;
    }

    /** Rust's {@code str::trim}. */
    static String rustTrim(CharSequence value) {
        String s = value.toString();
        int start = 0;
        int end = s.length();
        while (start < end) {
            int c = s.codePointAt(start);
            if (!isRustWhitespace(c)) {
                break;
            }
            start += Character.charCount(c);
        }
        while (end > start) {
            int c = s.codePointBefore(end);
            if (!isRustWhitespace(c)) {
                break;
            }
            end -= Character.charCount(c);
        }
        return s.substring(start, end);
    }

    /**
     * A decimal(18,4) amount's bytes as weft re-encodes them: empty reads as zero, more than 16
     * bytes or more than 18 digits is refused (null: undecodable), the result is the minimal
     * big-endian two's complement (zero is one 0x00 byte).
     */
    static byte[] normalizeDecimal(byte[] bytes) {
        if (bytes.length == 0) {
            return new byte[] {0};
        }
        if (bytes.length > 16) {
            return null;
        }
        BigInteger v = new BigInteger(bytes);
        if (v.abs().compareTo(BigInteger.valueOf(MAX_UNITS)) > 0) {
            return null;
        }
        return isMinimal(bytes) ? bytes : v.toByteArray();
    }

    private static boolean isMinimal(byte[] b) {
        if (b.length == 1) {
            return true;
        }
        boolean nextHigh = (b[1] & 0x80) != 0;
        return !((b[0] == 0 && !nextHigh) || (b[0] == (byte) 0xff && nextHigh));
    }

    /** 32 (trace id) or 16 (span id) lowercase hex digits, not all zero. */
    static boolean isHexId(String s, int len) {
        if (s.length() != len) {
            return false;
        }
        boolean nonZero = false;
        for (int i = 0; i < len; i++) {
            char c = s.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                return false;
            }
            nonZero |= c != '0';
        }
        return nonZero;
    }

    /**
     * The {@code traceparent} of an output, as weft's runtime writes it without an OpenTelemetry
     * exporter: a child of the input's valid {@code traceparent} (same trace id and flags, a new
     * span id); otherwise a new sampled root whose trace id is the envelope's {@code trace_id}
     * when that is 32 lowercase hex digits, random otherwise.
     */
    static String traceparent(String inputTraceparent, CharSequence envelopeTraceId) {
        if (inputTraceparent != null) {
            String[] p = rustTrim(inputTraceparent).split("-", -1);
            int flags = p.length == 4 && p[3].length() == 2 ? parseFlags(p[3]) : -1;
            if (p.length == 4 && p[0].equals("00") && isHexId(p[1], 32) && isHexId(p[2], 16)
                    && flags >= 0) {
                return "00-" + p[1] + "-" + randomHex(8) + "-" + HEX[flags >> 4] + HEX[flags & 0xf];
            }
        }
        String trace = envelopeTraceId == null ? null : envelopeTraceId.toString();
        if (trace == null || !isHexId(trace, 32)) {
            trace = randomHex(16);
        }
        return "00-" + trace + "-" + randomHex(8) + "-01";
    }

    /** Rust's {@code u8::from_str_radix(flags, 16)}: an optional '+', then hex digits; -1 if not. */
    private static int parseFlags(String s) {
        int v = 0;
        int i = s.startsWith("+") ? 1 : 0;
        if (i == s.length()) {
            return -1;
        }
        for (; i < s.length(); i++) {
            char c = s.charAt(i);
            int d = c < 128 ? Character.digit(c, 16) : -1;
            if (d < 0) {
                return -1;
            }
            v = v * 16 + d;
        }
        return v;
    }

    static String randomHex(int bytes) {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        char[] out = new char[2 * bytes];
        for (int i = 0; i < bytes; i++) {
            int b = r.nextInt(256);
            out[2 * i] = HEX[b >> 4];
            out[2 * i + 1] = HEX[b & 0xf];
        }
        return new String(out);
    }
}
