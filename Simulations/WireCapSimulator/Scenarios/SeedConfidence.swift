/// Confidence intervals over seeds: one scenario run with seeds s, s+1, …, s+N−1
/// gives N CSV tables of the same shape (the same points in the same order; only
/// the synthetic traces differ). ``table(_:)`` merges them row by row:
///
/// - a column whose every row is the same in every seed (engine, x, queue, P, …)
///   is kept as it is (so is a text column; a text cell that differs between
///   seeds lists its values, `a|b|c`);
/// - any other numeric column `c` becomes `c` = the mean over the seeds and
///   `c_ci95` = the half-width of its 95% confidence interval,
///   t(0.975, N−1) · s / √N (Student's t, s the sample standard deviation).
///
/// Tables of different shapes are refused (`nil`): a seed that changes which
/// points exist would make row-by-row means meaningless.
public enum SeedConfidence {
    /// The merged CSV text, or nil when there are fewer than 2 tables or their shapes differ.
    public static func table(_ csvs: [String]) -> String? {
        guard csvs.count >= 2 else { return nil }
        let tables = csvs.map(parse)
        let header = tables[0].first ?? []
        guard !header.isEmpty,
              tables.allSatisfy({ $0.count == tables[0].count && $0.first == header && $0.allSatisfy { $0.count == header.count } })
        else { return nil }
        let rows = tables[0].count - 1
        var constant = Array(repeating: true, count: header.count)
        var numeric = Array(repeating: true, count: header.count)
        for c in header.indices {
            for r in stride(from: 1, through: rows, by: 1) {
                let values = tables.map { $0[r][c] }
                if Set(values).count > 1 { constant[c] = false }
                if values.contains(where: { Double($0) == nil }) { numeric[c] = false }
            }
        }
        var out = CSVTable(header.indices.flatMap { c -> [String] in
            constant[c] || !numeric[c] ? [header[c]] : [header[c], header[c] + "_ci95"]
        })
        let t = studentT975(degreesOfFreedom: csvs.count - 1)
        for r in stride(from: 1, through: rows, by: 1) {
            var fields: [CustomStringConvertible] = []
            for c in header.indices {
                if constant[c] || !numeric[c] {
                    // A text cell that differs between seeds: its values, joined.
                    let values = tables.map { $0[r][c] }
                    fields.append(Set(values).count == 1 ? values[0] : values.joined(separator: "|"))
                    continue
                }
                let xs = tables.map { Double($0[r][c])! }
                let mean = xs.reduce(0, +) / Double(xs.count)
                let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(xs.count - 1)
                fields.append(mean)
                fields.append(t * variance.squareRoot() / Double(xs.count).squareRoot())
            }
            out.row(fields)
        }
        return out.text
    }

    /// t(0.975, df): the two-sided 95% quantile of Student's t (1.96 beyond 30).
    public static func studentT975(degreesOfFreedom df: Int) -> Double {
        let table: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                               2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                               2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        return df >= 1 && df <= table.count ? table[df - 1] : 1.96
    }

    /// RFC 4180 fields of each line (the inverse of ``CSVTable``'s quoting).
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var quoted = false, afterQuote = false
        for ch in text {
            if quoted {
                if ch == "\"" { quoted = false; afterQuote = true } else { field.append(ch) }
                continue
            }
            switch ch {
            case "\"":
                if afterQuote { field.append("\"") }   // "" inside quotes
                quoted = true
                afterQuote = false
            case ",":
                row.append(field); field = ""; afterQuote = false
            case "\n":
                row.append(field); rows.append(row); row = []; field = ""; afterQuote = false
            default:
                field.append(ch); afterQuote = false
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
