//! The WQL subset the simulator understands:
//!
//! * `SELECT * FROM Class [WHERE Prop = 'v' [AND|OR Prop2 = "v2" | 3 | TRUE ...]]`, AND binding
//!   tighter than OR as in WQL (MS docs "WQL Operators": operator precedence), no parentheses
//! * `ASSOCIATORS OF {Class.Key='v',Key2="v2"} [WHERE AssocClass = X ResultClass = Y Role = R ResultRole = RR]`
//!
//! Keywords and names are case-insensitive; string literals use `\` escapes (`\\`, `\'`, `\"`)
//! as WQL does. Anything else is a parse error, which the server answers with
//! `n:CannotProcessFilter` like Windows answers `WBEM_E_INVALID_QUERY`.

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// `SELECT * FROM class WHERE a = b AND c = d OR e = f ...`
    Select {
        /// Class name.
        class: String,
        /// The alternatives (OR) of equality conditions that must all hold (AND); empty when
        /// there is no WHERE clause.
        conditions: Vec<Vec<(String, String)>>,
    },
    /// `ASSOCIATORS OF {object} WHERE ...`
    Associators {
        /// Class of the source object.
        class: String,
        /// Its keys.
        keys: Vec<(String, String)>,
        /// `AssocClass`.
        assoc_class: Option<String>,
        /// `ResultClass`.
        result_class: Option<String>,
        /// `Role`.
        role: Option<String>,
        /// `ResultRole`.
        result_role: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(String),
    Sym(char),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let quote = c;
            let mut v = String::new();
            i += 1;
            loop {
                let Some(&ch) = chars.get(i) else {
                    return Err("unterminated string literal".into());
                };
                if ch == '\\' {
                    let Some(&n) = chars.get(i + 1) else {
                        return Err("dangling escape".into());
                    };
                    v.push(n);
                    i += 2;
                } else if ch == quote {
                    i += 1;
                    break;
                } else {
                    v.push(ch);
                    i += 1;
                }
            }
            out.push(Tok::Str(v));
        } else if matches!(c, '*' | '=' | ',' | '{' | '}' | '.') {
            out.push(Tok::Sym(c));
            i += 1;
        } else if c.is_alphanumeric() || c == '_' || c == '-' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '-' | ':')) {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else {
            return Err(format!("unexpected character {c:?}"));
        }
    }
    Ok(out)
}

struct P {
    toks: Vec<Tok>,
    pos: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&mut self, kw: &str) -> Result<(), String> {
        match self.next() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw) => Ok(()),
            other => Err(format!("expected {kw}, found {other:?}")),
        }
    }
    fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn word(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w),
            other => Err(format!("expected a name, found {other:?}")),
        }
    }
    fn sym(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Tok::Sym(s)) if s == c => Ok(()),
            other => Err(format!("expected {c:?}, found {other:?}")),
        }
    }
    fn value(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Str(s)) | Some(Tok::Word(s)) => Ok(s),
            other => Err(format!("expected a value, found {other:?}")),
        }
    }
}

/// Parses one query of the supported subset.
pub fn parse(query: &str) -> Result<Query, String> {
    let mut p = P {
        toks: tokenize(query)?,
        pos: 0,
    };
    if p.is_keyword("SELECT") {
        p.next();
        p.sym('*')?;
        p.keyword("FROM")?;
        let class = p.word()?;
        let mut conditions: Vec<Vec<(String, String)>> = Vec::new();
        if p.peek().is_some() {
            p.keyword("WHERE")?;
            let mut all = Vec::new();
            loop {
                let name = p.word()?;
                p.sym('=')?;
                let value = p.value()?;
                all.push((name, value));
                if p.peek().is_none() {
                    break;
                }
                if p.is_keyword("OR") {
                    p.next();
                    conditions.push(std::mem::take(&mut all));
                } else {
                    p.keyword("AND").map_err(|e| format!("{e} (or OR)"))?;
                }
            }
            conditions.push(all);
        }
        Ok(Query::Select { class, conditions })
    } else if p.is_keyword("ASSOCIATORS") {
        p.next();
        p.keyword("OF")?;
        p.sym('{')?;
        let class = p.word()?;
        p.sym('.')?;
        let mut keys = Vec::new();
        loop {
            let k = p.word()?;
            p.sym('=')?;
            let v = p.value()?;
            keys.push((k, v));
            match p.next() {
                Some(Tok::Sym(',')) => continue,
                Some(Tok::Sym('}')) => break,
                other => return Err(format!("expected ',' or '}}', found {other:?}")),
            }
        }
        let (mut assoc_class, mut result_class, mut role, mut result_role) = (None, None, None, None);
        if p.peek().is_some() {
            p.keyword("WHERE")?;
            while p.peek().is_some() {
                let k = p.word()?;
                p.sym('=')?;
                let v = p.value()?;
                let slot = match k.to_ascii_lowercase().as_str() {
                    "assocclass" => &mut assoc_class,
                    "resultclass" => &mut result_class,
                    "role" => &mut role,
                    "resultrole" => &mut result_role,
                    _ => return Err(format!("unsupported ASSOCIATORS OF qualifier {k}")),
                };
                *slot = Some(v);
            }
        }
        Ok(Query::Associators {
            class,
            keys,
            assoc_class,
            result_class,
            role,
            result_role,
        })
    } else {
        Err("only SELECT * FROM and ASSOCIATORS OF are supported".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_select_with_conditions_and_escapes() {
        let q = parse(
            r"select * FROM Msvm_ReplicationSettingData where InstanceID = 'Microsoft:AB\\HVR\\0' and X = 3",
        )
        .unwrap();
        assert_eq!(
            q,
            Query::Select {
                class: "Msvm_ReplicationSettingData".into(),
                conditions: vec![vec![
                    ("InstanceID".into(), r"Microsoft:AB\HVR\0".into()),
                    ("X".into(), "3".into())
                ]]
            }
        );
        assert_eq!(
            parse("SELECT * FROM Msvm_ComputerSystem").unwrap(),
            Query::Select {
                class: "Msvm_ComputerSystem".into(),
                conditions: vec![]
            }
        );
    }

    #[test]
    fn parses_associators() {
        let q = parse(
            "ASSOCIATORS OF {Msvm_ComputerSystem.CreationClassName='Msvm_ComputerSystem',Name=\"G-1\"} \
             WHERE AssocClass = Msvm_ElementSettingData ResultClass = Msvm_ReplicationSettingData",
        )
        .unwrap();
        assert_eq!(
            q,
            Query::Associators {
                class: "Msvm_ComputerSystem".into(),
                keys: vec![
                    ("CreationClassName".into(), "Msvm_ComputerSystem".into()),
                    ("Name".into(), "G-1".into())
                ],
                assoc_class: Some("Msvm_ElementSettingData".into()),
                result_class: Some("Msvm_ReplicationSettingData".into()),
                role: None,
                result_role: None,
            }
        );
    }

    #[test]
    fn refuses_what_it_does_not_support() {
        assert!(parse("SELECT Name FROM X").unwrap_err().contains("expected '*'"));
        assert!(parse("SELECT * FROM X WHERE a < 3")
            .unwrap_err()
            .contains("unexpected character '<'"));
        assert!(parse("SELECT * FROM X WHERE a = 'x")
            .unwrap_err()
            .contains("unterminated"));
        assert!(parse("DELETE FROM X").unwrap_err().contains("only SELECT"));
        assert!(parse("SELECT * FROM X WHERE a = 1 XOR b = 2")
            .unwrap_err()
            .contains("expected AND"));
        assert!(parse("SELECT * FROM X WHERE (a = 1 OR b = 2)").is_err());
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let q = parse("SELECT * FROM X WHERE a = 1 AND b = 'x' OR c = 2 OR d = 3 AND e = 4").unwrap();
        let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            q,
            Query::Select {
                class: "X".into(),
                conditions: vec![
                    vec![pair("a", "1"), pair("b", "x")],
                    vec![pair("c", "2")],
                    vec![pair("d", "3"), pair("e", "4")],
                ],
            }
        );
    }
}
