//! Sentences generated from a word list, so the world never repeats one fixed corpus.

use rand::Rng;

/// Common English words, rich in bilabials, rounded and open vowels so every viseme occurs.
const NOUNS: &[&str] = &[
    "apple", "baby", "ball", "bank", "boat", "book", "bottle", "box", "bread", "bridge", "brother",
    "butter", "cabin", "camera", "candle", "captain", "market", "city", "cloud", "coffee",
    "computer", "corner", "cousin", "daughter", "doctor", "dog", "door", "dream", "farmer",
    "father", "field", "fire", "fish", "flower", "forest", "friend", "garden", "glass", "harbor",
    "hammer", "horse", "house", "island", "jacket", "kitchen", "lamp", "letter", "library",
    "machine", "magazine", "map", "meadow", "member", "message", "method", "minute", "mirror",
    "money", "monkey", "month", "moon", "morning", "mother", "mountain", "museum", "music",
    "number", "ocean", "office", "orange", "paper", "parent", "party", "pepper", "piano",
    "picture", "pillow", "planet", "plate", "pocket", "poem", "problem", "program", "pumpkin",
    "puppy", "rabbit", "river", "robot", "rocket", "room", "school", "shadow", "ship", "shoe",
    "sister", "spoon", "summer", "table", "teacher", "ticket", "tomato", "tower", "town", "train",
    "umbrella", "valley", "village", "voice", "wagon", "water", "window", "winter", "woman",
    "world", "zoo", "beach", "bubble", "mop", "bamboo",
];
const VERBS: &[&str] = &[
    "bring", "build", "buy", "call", "carry", "catch", "choose", "climb", "cook", "cover", "find",
    "follow", "grab", "help", "hope", "jump", "keep", "know", "learn", "leave", "lift", "love",
    "make", "meet", "miss", "move", "need", "open", "paint", "pass", "pick", "play", "pull",
    "push", "put", "read", "remember", "bump", "see", "sell", "send", "show", "smell", "stop",
    "swim", "take", "taste", "throw", "touch", "watch", "wash", "want", "grow", "borrow",
];
const ADJECTIVES: &[&str] = &[
    "big", "blue", "bright", "broken", "busy", "calm", "cheap", "clean", "cold", "empty", "famous",
    "fast", "funny", "gentle", "golden", "happy", "heavy", "huge", "humble", "lovely", "modern",
    "narrow", "new", "old", "open", "perfect", "polite", "poor", "proud", "purple", "quiet",
    "rapid", "rough", "round", "small", "smooth", "soft", "strange", "sweet", "warm", "wide",
    "young", "bumpy", "maroon", "pink", "brown",
];
const ADVERBS: &[&str] = &[
    "maybe",
    "perhaps",
    "probably",
    "often",
    "always",
    "sometimes",
    "almost",
    "quickly",
    "slowly",
    "rarely",
    "barely",
    "simply",
    "today",
    "tomorrow",
    "again",
    "now",
    "soon",
];
const PREPOSITIONS: &[&str] = &[
    "by", "from", "above", "below", "beyond", "behind", "past", "with", "without", "upon", "near",
    "across", "over", "under", "among", "about",
];
const SUBJECTS: &[&str] = &[
    "I",
    "you",
    "we",
    "they",
    "my mother",
    "the baby",
    "our neighbour",
    "the man",
    "Paula",
    "Bob",
    "Emma",
    "my boss",
    "the old woman",
    "Mike",
    "a poor farmer",
    "the people",
];

/// A random sentence of roughly 5 to 14 words, with commas and a full stop or question mark.
pub fn sentence(rng: &mut impl Rng) -> String {
    let mut words: Vec<String> = Vec::new();
    if rng.random_bool(0.3) {
        words.push(format!("{},", capitalise(pick(ADVERBS, rng))));
    }
    words.push(pick(SUBJECTS, rng).to_string());
    if rng.random_bool(0.3) {
        words.push(pick(ADVERBS, rng).to_string());
    }
    words.push(pick(VERBS, rng).to_string());
    words.push("the".into());
    if rng.random_bool(0.6) {
        words.push(pick(ADJECTIVES, rng).to_string());
    }
    words.push(pick(NOUNS, rng).to_string());
    for _ in 0..rng.random_range(1..4) {
        match rng.random_range(0..3) {
            0 => {
                words.push(pick(PREPOSITIONS, rng).to_string());
                words.push("the".into());
                if rng.random_bool(0.5) {
                    words.push(pick(ADJECTIVES, rng).to_string());
                }
                words.push(pick(NOUNS, rng).to_string());
            }
            1 => {
                if let Some(last) = words.last_mut() {
                    last.push(',');
                }
                words.push("and".into());
                words.push(pick(VERBS, rng).to_string());
                words.push("a".into());
                words.push(pick(NOUNS, rng).to_string());
            }
            _ => {
                words.push(pick(ADVERBS, rng).to_string());
            }
        }
    }
    let mut s = words.join(" ");
    if let Some(first) = s.get(..1) {
        s = first.to_uppercase() + &s[1..];
    }
    s.push(if rng.random_bool(0.15) { '?' } else { '.' });
    s
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn pick<R: Rng + ?Sized>(list: &[&'static str], rng: &mut R) -> &'static str {
    list[rng.random_range(0..list.len())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn sentences_vary_and_repeat_by_seed() {
        let mut a = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut b = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let xs: Vec<String> = (0..20).map(|_| sentence(&mut a)).collect();
        let ys: Vec<String> = (0..20).map(|_| sentence(&mut b)).collect();
        assert_eq!(xs, ys);
        let mut unique = xs.clone();
        unique.sort();
        unique.dedup();
        assert!(unique.len() >= 19);
        assert!(xs.iter().all(|s| s.split_whitespace().count() >= 4));
    }
}
