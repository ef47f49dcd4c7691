// The AMI Editor (docs/editor.md): a single-page app over the node's REST API.
import { render } from 'preact';
import { App } from './ui/App';
import { applyTheme, initialTheme } from './ui/theme';
import './styles.css';

applyTheme(initialTheme());
render(<App />, document.getElementById('app')!);
